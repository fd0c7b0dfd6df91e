"""Time one training update (world model + imagination/actor-critic) at a preset's shapes.

    python -m agents.bench [--preset paper|quick|smoke] [--task T] [--reps N] [--set k=v ...]

Prints the median seconds of the world-model step and of the behaviour step over N timed
repetitions after one warm-up, with shapes, threads, device and torch version.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from agents.agent import Agent, resolve_device
from agents.config import make_config


def fake_batch(cfg, action_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # Timing needs only the shapes; the maths is identical for any pixel values.
    B, T, S = cfg.replay.batch_size, cfg.replay.seq_len, cfg.env.image_size
    return {"image": rng.integers(0, 255, (B, T, S, S, 3), dtype=np.uint8),
            "action": rng.uniform(-1, 1, (B, T, action_dim)).astype(np.float32),
            "reward": rng.uniform(0, 1, (B, T)).astype(np.float32),
            "state": np.zeros((B, T, 39), np.float32), "success": np.zeros((B, T), np.float32)}


def time_update(agent: Agent, batch, reps: int) -> dict[str, float]:
    sync = torch.cuda.synchronize if agent.device.type == "cuda" else (lambda: None)
    wm_times, beh_times = [], []
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
        if i > 0:  # the first repetition is warm-up
            wm_times.append(t1 - t0)
            beh_times.append(t2 - t1)
    wm, beh = statistics.median(wm_times), statistics.median(beh_times)
    return {"world_model_s": wm, "behaviour_s": beh, "total_s": wm + beh}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agents.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--task", default="metaworld/lever-pull")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    cfg = make_config(args.preset, args.task, args.overrides)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    torch.manual_seed(0)
    agent = Agent(cfg, 4, device)
    batch = fake_batch(cfg, 4, np.random.default_rng(0))
    result = {
        "preset": args.preset, "batch": f"{cfg.replay.batch_size}x{cfg.replay.seq_len}",
        "image": cfg.env.image_size, "deter": cfg.model.deter, "depth": cfg.model.depth,
        "params_M": sum(p.numel() for p in agent.parameters()) / 1e6,
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "precision": cfg.train.precision, **time_update(agent, batch, args.reps)}
    width = max(map(len, result))
    for k, v in result.items():
        print(f"{k:<{width}}  {v:.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
