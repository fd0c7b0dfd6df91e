"""Speed benchmark: training updates, rendering, and the whole agent loop, in one table.

    python -m agents.bench [--rows update-paper update-v3-paper env loop ...] [--reps 3]
                           [--json F] [--loop-preset quick] [--set train.device=cuda ...]

Rows (each figure the median of --reps timed repetitions after one warm-up):
- update-paper / update-quick: world-model update (B x T sequences: forward, loss, backward,
  optimiser step) and imagination + actor-critic update, at the `paper` Meta-world shapes
  (batch 50 x 50, deter 1024, stoch 32x32, depth 48, MLPs 4x400) and at the `quick` preset;
  `--breakdown` adds, on a CPU, where the time goes (convolutions, matmuls, everything else);
  `--set train.compile=true` times the compiled losses (`first_update_s`: the compile);
- update-v3-paper / update-v3-quick: the same for DreamerV3 at the official Atari 100K shapes
  (batch 16 x 64, deter 512, depth 32, MLPs 2x512) and at the `quick` preset;
- env: environment steps/s with 64x64 rendering (random actions) on four tasks;
- loop: end-to-end env steps/s of the `quick` (or --loop-preset) agent after prefill and one
  untimed warm-up round (render + policy + one update every train_every steps), episodes
  shortened to 100 steps to keep it brief;
  `--set env.num_envs=N` steps N envs in parallel workers;
- act: latency of one batched policy step (encoder, RSSM step, actor) for N envs
  (--act-envs), at the paper shapes;
- matmul: the best matmul TFLOP/s over a few square sizes in fp32 and bf16 on this device
  (`matmul_peak`), the arithmetic limit. Every update row also measures that peak in its own
  precision, in the same run and with the same threads, and reports its achieved TFLOP/s
  (FLOPs counted by torch's FlopCounterMode) as `peak_fraction` of it;
- concurrent: total env steps/s of K loop runs at once (--concurrent K, separate processes),
  as the local executor places K runs on one device;
- arena: the world-model update of every loss-balancing method (docs/arena.md) at the `quick`
  shapes (--arena-batch sequences), one row each, the plain weighted sum (fixed) first, all in
  one run: each method's cost beside the plain update's.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from agents.bench_breakdown import breakdown, flop_counts
from agents.cli import Parser, path_arg, positive_int
from agents.config import make_config
from agents.dreamerv2.agent import Agent
from agents.families import make_agent
from agents.run.session import quiet_teardown, resolve_device, set_threads, stop_on_signals
from agents.update.graphs import WARMUP

ROWS = ("update-paper", "update-quick", "env", "loop", "act", "matmul", "concurrent",
        "update-v3-paper", "update-v3-quick", "arena")
DEFAULT_ROWS = ("update-paper", "update-quick", "env", "loop")
ENV_TASKS = ("metaworld/lever-pull", "metaworld/hammer", "dmc/cartpole-swingup",
             "dmc/walker-walk", "dmc_distracted/walker-walk", "dmc_remastered/walker-walk")


def fake_batch(cfg, action_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # Timing needs only the shapes; the maths is identical for any pixel values.
    B, T, S = cfg.replay.batch_size, cfg.replay.seq_len, cfg.env.image_size
    return {"image": rng.integers(0, 255, (B, T, S, S, 3), dtype=np.uint8),
            "action": rng.uniform(-1, 1, (B, T, action_dim)).astype(np.float32),
            "reward": rng.uniform(0, 1, (B, T)).astype(np.float32),
            "state": np.zeros((B, T, 39), np.float32), "success": np.zeros((B, T), np.float32),
            "terminal": np.zeros((B, T), np.float32)}


def time_update(agent, batch, reps: int) -> dict[str, float]:
    sync = torch.cuda.synchronize if agent.device.type == "cuda" else (lambda: None)
    if agent.graphs:  # one graph for the whole update: only its total can be timed
        data = agent.to_torch(batch)
        times = []
        for i in range(WARMUP + 1 + reps):  # warm-up, capture, then timed replays
            sync()
            t0 = time.perf_counter()
            agent.update_tensors(data)
            sync()
            if i > WARMUP:
                times.append(time.perf_counter() - t0)
        return {"total_s": statistics.median(times)}
    wm_times, beh_times, first = [], [], 0.0
    for i in range(reps + 1):
        data = agent.to_torch(batch)
        sync()
        t0 = time.perf_counter()
        _, post = agent.update_world_model(data)
        sync()
        t1 = time.perf_counter()
        agent.update_behaviour(post)
        sync()
        t2 = time.perf_counter()
        if i > 0:  # the first repetition is warm-up (and, with train.compile, compiles)
            wm_times.append(t1 - t0)
            beh_times.append(t2 - t1)
        else:
            first = t2 - t0
    wm, beh = statistics.median(wm_times), statistics.median(beh_times)
    return {"world_model_s": wm, "behaviour_s": beh, "total_s": wm + beh,
            "first_update_s": first}


def update_config(preset: str, overrides: list[str], v3: bool = False):
    task = "atari/pong" if v3 else "metaworld/lever-pull"
    return make_config(preset, task, ["model.agent=dreamerv3", *overrides] if v3 else overrides)


def bench_update(preset: str, overrides: list[str], reps: int, v3: bool = False,
                 peaks: dict | None = None, split: bool = False) -> dict:
    """DreamerV2 at the Meta-world shapes, or (v3) DreamerV3 at the Atari 100K shapes; with
    the fraction of the matmul peak of its precision (`peaks` caches them by dtype) and,
    with `split` on a CPU, where its time goes (agents/bench_breakdown.py)."""
    actions = 6 if v3 else 4
    cfg = update_config(preset, overrides, v3)
    device = resolve_device(cfg.train.device)
    torch.manual_seed(0)
    agent = make_agent(cfg, actions, device)
    batch = fake_batch(cfg, actions, np.random.default_rng(0))
    m = cfg.model
    shape = (f"batch {cfg.replay.batch_size}x{cfg.replay.seq_len}, deter {m.deter}, "
             f"stoch {m.stoch}x{m.classes}, depth {m.depth}, MLP {m.mlp_layers}x{m.mlp_units}, "
             f"{params(agent) / 1e6:.1f}M params, "
             f"{cfg.train.precision}{', CUDA graph' if agent.graphs else ''}"
             f"{', compiled' if cfg.train.compile else ''}")
    timing = time_update(agent, batch, reps)
    dtype = agent.amp_dtype or torch.float32
    peaks = {} if peaks is None else peaks
    if dtype not in peaks:
        peaks[dtype] = matmul_peak(device, dtype, reps)[1]
    flops = flop_counts(agent, batch)
    achieved = (flop := sum(flops.values())) / timing["total_s"] / 1e12
    row = {"row": f"update-{'v3-' if v3 else ''}{preset}", "shape": shape, **timing,
           "tflop": flop / 1e12, "tflop_per_s": achieved,
           "peak_tflop_per_s": peaks[dtype], "peak_fraction": achieved / peaks[dtype]}
    if split and device.type == "cpu":
        row.update(breakdown(agent, batch, reps, peaks[dtype], flops))
    return row


def bench_arena(overrides: list[str], reps: int, batch: int) -> list[dict]:
    """One world-model update per arena method (agents/config/weightings.py ARENA) at the
    quick shapes: median and fastest seconds, FLOPs, and their ratios to the plain weighted
    sum's (fixed, first). The methods take turns, one update each per round, so a machine
    whose load changes meanwhile slows them alike."""
    from agents.config import ARENA_WEIGHTINGS

    agents, times = {}, {name: [] for name in ARENA_WEIGHTINGS}
    for name in ARENA_WEIGHTINGS:
        cfg = update_config("quick", [*overrides, f"replay.batch_size={batch}",
                                      f"weighting.name={name}"])
        torch.manual_seed(0)
        agent = make_agent(cfg, 4, resolve_device(cfg.train.device))
        agents[name] = (agent, agent.to_torch(fake_batch(cfg, 4, np.random.default_rng(0))))
    for i in range(reps + 1):  # round 0 is warm-up (and builds each solver)
        for name, (agent, data) in agents.items():
            t0 = time.perf_counter()
            agent.update_world_model(data)
            if agent.device.type == "cuda":
                torch.cuda.synchronize()
            if i > 0:
                times[name].append(time.perf_counter() - t0)
    from torch.utils.flop_counter import FlopCounterMode

    flops = {}
    for name, (agent, data) in agents.items():  # FLOPs: a cost no other load changes
        with FlopCounterMode(display=False) as counter:
            agent.update_world_model(data)
        flops[name] = float(counter.get_total_flops())
    plain = ARENA_WEIGHTINGS[0]
    return [{"row": f"arena-{name}", "shape": f"quick world model, batch {batch}x"
             f"{agent.cfg.replay.seq_len}, {agent.cfg.train.precision}",
             "world_model_s": statistics.median(times[name]),
             "world_model_min_s": min(times[name]),
             # the fastest repetitions' ratio: the least disturbed by other processes
             "vs_plain": min(times[name]) / min(times[plain]),
             "gflop": flops[name] / 1e9, "flop_vs_plain": flops[name] / flops[plain]}
            for name, (agent, _) in agents.items()]


def params(agent) -> int:
    """The agent's parameter count (without train.overlap's acting copy)."""
    return sum(p.numel() for n, p in agent.named_parameters() if not n.startswith("acting."))


def bench_act(overrides: list[str], envs: int, reps: int) -> dict:
    cfg = make_config("paper", "metaworld/lever-pull", overrides)
    agent = Agent(cfg, 4, resolve_device(cfg.train.device))
    images = np.random.default_rng(0).integers(0, 255, (envs, 64, 64, 3), dtype=np.uint8)
    sync = torch.cuda.synchronize if agent.device.type == "cuda" else (lambda: None)
    times, state = [], None
    with torch.no_grad():
        for i in range(max(reps, 5) * 4 + 1):
            sync()
            t0 = time.perf_counter()
            _, state = agent.act(images, state, explore=True)  # includes the copy to host
            if i > 0:
                times.append(time.perf_counter() - t0)
    return {"row": "act", "shape": f"{envs} envs, paper shapes, {cfg.train.precision}",
            "latency_ms": statistics.median(times) * 1e3}


def matmul_peak(device: torch.device, dtype: torch.dtype, reps: int) -> tuple[int, float]:
    """(size, TFLOP/s) of the fastest square matmul over a few sizes (the median of `reps`
    after one warm-up each): on a CPU a 2048^2 matmul can read lower than a 4096^2 one."""
    sizes = (4096, 8192) if device.type == "cuda" else (1024, 2048, 3072, 4096)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = (0, 0.0)
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        times = []
        for i in range(max(reps, 2) + 1):
            sync()
            t0 = time.perf_counter()
            a @ b
            sync()
            if i > 0:
                times.append(time.perf_counter() - t0)
        best = max(best, (n, 2 * n**3 / statistics.median(times) / 1e12), key=lambda x: x[1])
    return best


def bench_matmul(device: torch.device, reps: int) -> list[dict]:
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        n, peak = matmul_peak(device, dtype, reps)
        rows.append({"row": "matmul", "shape": f"best of square sizes ({n}^2), {dtype}".replace(
            "torch.", ""), "tflop_per_s": peak})
    return rows


def bench_concurrent(preset: str, overrides: list[str], k: int) -> dict:
    """K loop rows in K processes at once; their env steps/s summed."""
    import os
    import subprocess
    import sys

    outs = [tempfile.mktemp(suffix=".json") for _ in range(k)]
    sets = [a for o in overrides for a in ("--set", o)]
    procs = [subprocess.Popen([sys.executable, "-m", "agents.bench", "--rows", "loop",
                               "--loop-preset", preset, "--json", out, *sets],
                              stdout=subprocess.DEVNULL) for out in outs]
    rates = []
    for proc, out in zip(procs, outs, strict=True):
        proc.wait()
        with open(out) as f:
            rates.append(json.load(f)["rows"][0]["env_steps_per_s"])
        os.unlink(out)
    return {"row": "concurrent", "shape": f"{k} x loop ({preset} preset) at once",
            "env_steps_per_s": float(sum(rates))}


def bench_env(task: str, steps: int, reps: int) -> dict:
    from agents.envs import make_env

    env = make_env(task, 64, 1000, 2 if task.startswith("dmc") else 1)
    rng = np.random.default_rng(0)
    rates = []
    for rep in range(reps + 1):
        env.reset(rep)
        t0 = time.perf_counter()
        for _ in range(steps):
            *_, truncated, _ = env.step(rng.uniform(-1, 1, env.action_dim))
            if truncated:
                env.reset(rep + 1000)
        if rep > 0:
            rates.append(steps / (time.perf_counter() - t0))
    env.close()
    # DMC steps repeat each action twice (one render per agent step); report agent steps.
    return {"row": "env", "shape": task, "agent_steps_per_s": statistics.median(rates)}


def loop_config(preset: str, overrides: list[str]):
    return make_config(preset, "metaworld/lever-pull", [
        "env.episode_length=100", "train.prefill=100", "train.pretrain=0",
        "train.eval_every=1000000", "train.checkpoint_every=1000000", *overrides])


def bench_loop(preset: str, overrides: list[str], episodes: int) -> dict:
    from tqdm import tqdm

    from agents.run.loop import Trainer

    cfg = loop_config(preset, overrides)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, out, progress_bar=False)
        bar = tqdm(disable=True)
        trainer.collect_round(bar)  # prefill: random actions, no updates
        trainer.collect_round(bar)  # untimed: the first updates warm up (and record graphs)
        start, t0 = trainer.p.step, time.perf_counter()
        for _ in range(episodes):
            trainer.collect_round(bar)
        rate = (trainer.p.step - start) / (time.perf_counter() - t0)
        trainer.envs.close()
    t = cfg.train
    shape = (f"{preset} preset, 1 update / {t.train_every} steps, {cfg.env.num_envs} envs"
             f"{', graphed' if trainer.agent.graphs else ''}{', overlap' if t.overlap else ''}")
    return {"row": "loop", "shape": shape, "env_steps_per_s": rate}


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m agents.bench", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), choices=ROWS)
    parser.add_argument("--reps", type=positive_int, default=3)
    parser.add_argument("--env-steps", type=positive_int, default=300)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="config override for the update and loop rows (e.g. "
                             "train.device=cuda, train.precision=bf16)")
    parser.add_argument("--loop-preset", default="quick", choices=("smoke", "quick", "paper"),
                        help="preset of the loop row (paper: for timing a GPU cluster run)")
    parser.add_argument("--act-envs", nargs="+", type=positive_int, default=[1, 4, 16],
                        help="env counts of the act row")
    parser.add_argument("--arena-batch", type=positive_int, default=8,
                        help="sequences per batch of the arena row (the arena study's quick: 8)")
    parser.add_argument("--concurrent", type=positive_int, default=2,
                        help="runs at once in the concurrent row")
    parser.add_argument("--breakdown", action="store_true",
                        help="update rows on a CPU also say where the time goes: convolutions, "
                             "matmuls (each with its fraction of the peak) and everything else")
    parser.add_argument("--json", type=path_arg("a file"),
                        help="also write the figures to this file")
    args = parser.parse_args(argv)
    from agents.config import ConfigError

    # Everything checked before the first row runs: each row's config, and the --json path
    # (found unusable only after the whole benchmark, the figures would be lost).
    try:
        cfg = make_config("paper", "metaworld/lever-pull", args.overrides)
        device = resolve_device(cfg.train.device)
        for row in args.rows:
            if row.startswith("update-"):
                update_config(row.split("-")[-1], args.overrides, v3=row.startswith("update-v3"))
            elif row in ("loop", "concurrent"):
                loop_config(args.loop_preset, args.overrides)
        if args.json:
            check_output_file(args.json, "--json")
    except ConfigError as exc:
        parser.exit(2, f"error: {exc}\n")
    set_threads(cfg.train.threads)  # --set train.threads=N; 0 keeps torch's default
    stop_on_signals()  # SIGTERM as Ctrl-C
    try:
        return run_rows(args, cfg, device)
    except KeyboardInterrupt:
        quiet_teardown()
        print(INTERRUPTED, file=sys.stderr)
        return 130


INTERRUPTED = "interrupted; no --json written (it is written whole, after the last row)"


def run_rows(args: argparse.Namespace, cfg, device) -> int:
    """Every row asked for, printed as it is measured; then the --json file, atomically."""
    header = {"date": time.strftime("%Y-%m-%d"),
              "machine": platform.processor() or platform.machine(),
              "device": str(device),
              "threads": torch.get_num_threads(), "torch": torch.__version__}
    print(" | ".join(f"{k} {v}" for k, v in header.items()))
    rows, peaks = [], {}
    for row in args.rows:
        if row.startswith("update-"):
            new = [bench_update(row.split("-")[-1], args.overrides, args.reps,
                                v3=row.startswith("update-v3"), peaks=peaks,
                                split=args.breakdown)]
        elif row == "env":
            new = [bench_env(t, args.env_steps, args.reps) for t in ENV_TASKS]
        elif row == "act":
            new = [bench_act(args.overrides, n, args.reps) for n in args.act_envs]
        elif row == "matmul":
            new = bench_matmul(resolve_device(cfg.train.device), args.reps)
        elif row == "concurrent":
            new = [bench_concurrent(args.loop_preset, args.overrides, args.concurrent)]
        elif row == "arena":
            new = bench_arena(args.overrides, args.reps, args.arena_batch)
        else:
            new = [bench_loop(args.loop_preset, args.overrides, episodes=2)]
        for r in new:
            figures = ", ".join(f"{k} {v:.2f}" for k, v in r.items() if isinstance(v, float))
            print(f"{r['row']:<13} {r['shape']:<60} {figures}", flush=True)
        rows += new
    if args.json:
        from agents.files import atomic_write_text

        try:
            atomic_write_text(args.json, json.dumps({**header, "rows": rows}, indent=2))
        except OSError as exc:  # e.g. the disk filled up meanwhile: one line, exit 1
            print(f"error: cannot write --json {args.json}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 1
    return 0


def check_output_file(path: str, option: str) -> None:
    """ConfigError unless `path` can be written as a file: not a directory, its directory
    exists and is writable (and the file, if it exists)."""
    import os
    from pathlib import Path

    from agents.config import ConfigError

    target = Path(path)
    if not path.strip():
        raise ConfigError(f"{option} must name a file")
    if target.is_dir():
        raise ConfigError(f"{option} {path} is a directory; give a file path")
    parent = target.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (target.exists()
                                                   and not os.access(target, os.W_OK)):
        raise ConfigError(f"{option} {path} is not writable")


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # while torch and the simulators load
        print(INTERRUPTED, file=sys.stderr)
        raise SystemExit(130) from None
