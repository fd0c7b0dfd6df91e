"""Evaluate a run's checkpoint: evaluation episodes as the trainer runs them, as a CSV table.

    python -m agents.evaluate RUN_DIR [--checkpoint latest|PATH] [--episodes N] [--video] \\
        [--out DIR] [--set KEY=VALUE ...]

Loads RUN_DIR/config.json and the checkpoint (latest: RUN_DIR/ckpt.pt), builds the agent as
the trainer does (either family), and plays N evaluation episodes (default: the run's
train.eval_episodes) in the run's own env pool (env.num_envs workers) with the trainer's policy
call (the actor's mode or a sample, behaviour.eval_greedy). Writes OUT/step_<step>.csv
(episode, seed, return, success, length, then the suite's own columns: Crafter's
achievement_<name>; OUT defaults to RUN_DIR/evaluate/) and
OUT/step_<step>.json (the summary), and prints one summary line. With --video, also
OUT/videos/eval_<step> and open_loop_<step> (.mp4, or .gif without imageio-ffmpeg; see
agents/run/videos.py): the first episode played, and the world model's open loop on it.

Which episodes: a checkpoint is taken right after the evaluation at its step, and records the
random state that evaluation started from. Evaluating it plays the same episodes (indices
(evals - 1) * eval_episodes + i, the same reset seeds) from that random state, so the
evaluation logged at the checkpoint's step is reproduced exactly (mean return and success),
on the device it ran on. A checkpoint taken without an evaluation at its step (chunked runs)
plays the episodes the run's next evaluation would have played.

Bad input (no run there, no checkpoint, an unreadable one, an unknown --set key, an offline
run) is one line on stderr and exit 2, with nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

from agents.cli import Parser, path_arg, positive_int
from agents.config import Config, ConfigError, apply_overrides, config_from_dict, identity, validate
from agents.envs.variables import check_environment
from agents.run.session import quiet_teardown, stop_on_signals


def load_config(run: Path, overrides: list[str]) -> tuple[Config, Config]:
    """(the run's config, that config with `overrides`), validated."""
    path = run / "config.json"
    if not run.is_dir():
        raise ConfigError(f"no run directory {run}")
    if not path.exists():
        raise ConfigError(f"{run} holds no run (no config.json)")
    try:
        data = json.loads(path.read_text())
        base, cfg = config_from_dict(data), config_from_dict(data)
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path} is unreadable ({type(exc).__name__})") from None
    apply_overrides(cfg, overrides)
    validate(cfg)
    if cfg.train.mode == "offline":
        raise ConfigError(f"{run} is an offline world-model run (train.mode=offline): it has "
                          "no policy to evaluate; its held-out metrics are its eval rows")
    return base, cfg


def load_checkpoint(run: Path, which: str, base: Config) -> tuple[Path, dict]:
    """The checkpoint `which` (latest: RUN/ckpt.pt) of the run whose config is `base`."""
    from agents.run import checkpoint

    path = run / "ckpt.pt" if which == "latest" else Path(which)
    hint = ""
    if which == "latest" and checkpoint.previous(path).exists():
        hint = f"; the previous one may be: --checkpoint {checkpoint.previous(path)}"
    if not path.is_file():
        raise ConfigError(f"no checkpoint {path}{hint}")
    try:
        state = checkpoint.load(path)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError...
        raise ConfigError(f"checkpoint {path} is unreadable ({type(exc).__name__}){hint}"
                          ) from None
    if not (isinstance(state, dict) and isinstance(state.get("progress"), dict)
            and "agent" in state and "step" in state["progress"]):
        raise ConfigError(f"{path} is not a checkpoint of an online training run")
    try:
        theirs = config_from_dict(state["config"])
    except (ConfigError, KeyError, TypeError, AttributeError):
        theirs = None
    if theirs is None or identity(theirs) != identity(base):
        raise ConfigError(f"checkpoint {path} belongs to another run than {run}")
    return path, state


def logged_eval(run: Path, step: int) -> dict | None:
    """The eval row the run logged at `step`, if any."""
    from agents.run.logger import parse_row

    try:
        with open(run / "metrics.jsonl") as f:
            rows = [r for r in map(parse_row, f) if r is not None]
    except OSError:
        return None
    found = [r for r in rows if r["split"] == "eval" and r["step"] == step]
    return found[-1] if found else None


def plan(base: Config, state: dict, logged: dict | None) -> tuple[int, dict, bool]:
    """(first episode index, random state to start from, whether that is the evaluation the
    run logged at the checkpoint's step, with the random state it started from)."""
    progress, record = state["progress"], state.get("eval")
    per_eval = base.train.eval_episodes
    if isinstance(record, dict) and record.get("step") == progress["step"]:
        return int(record["first"]), record, True
    random = {"torch_rng": state["torch_rng"]}  # deterministic, not the evaluation's
    if logged is not None:  # a checkpoint from before evaluations were recorded
        return (progress["evals"] - 1) * per_eval, random, False
    return progress["evals"] * per_eval, random, False  # the run's next evaluation


def evaluate(run: str | Path, which: str = "latest", episodes: int | None = None,
             out: str | Path | None = None, overrides: list[str] | None = None,
             video: bool = False) -> dict:
    """Evaluate a checkpoint of `run`; returns the summary (also written beside the CSV)."""
    from agents.run.lock import run_lock

    run = Path(run)
    base, cfg = load_config(run, list(overrides or []))
    path, state = load_checkpoint(run, which, base)
    out = Path(out) if out is not None else run / "evaluate"
    # Writing into the run: one writer per run (RunBusyError while a trainer holds it).
    inside = out.absolute().is_relative_to(run.absolute())
    with run_lock(run) if inside else contextlib.nullcontext():
        return _evaluate(run, cfg, base, path, state, count=episodes or cfg.train.eval_episodes,
                         out=out, overrides=overrides, video=video)


def _evaluate(run: Path, cfg: Config, base: Config, path: Path, state: dict, count: int,
              out: Path, overrides: list[str] | None, video: bool) -> dict:
    import numpy as np
    import pandas as pd
    import torch

    from agents.data.episodes import evaluation_episodes, set_random_state
    from agents.envs.parallel import EnvPool, EnvSpec
    from agents.families import make_agent
    from agents.files import atomic_write_text
    from agents.run.session import resolve_device, set_threads

    step = int(state["progress"]["step"])
    logged = logged_eval(run, step)
    first, random, recorded = plan(base, state, logged)
    device = cfg.train.device
    if device == "auto" and recorded and random.get("device") in ("cpu", "cuda") and (
            random["device"] == "cpu" or torch.cuda.is_available()):
        device = random["device"]  # where the run evaluated: its random stream
    device = resolve_device(device)

    set_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    e = cfg.env
    pool = EnvPool(EnvSpec.of(e), e.num_envs)
    try:
        agent = make_agent(cfg, pool.action_dim, device)
        try:
            agent.load_checkpoint_state(state["agent"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ConfigError(f"checkpoint {path} does not fit the config "
                              f"({str(exc).splitlines()[0][:120]})") from None
        agent.refresh_acting()  # the weights as trained (train.overlap: no lag)
        set_random_state(random, device)
        policy = lambda images, s: agent.act(images, s, explore=False)  # the trainer's call
        # The run's evaluation first, in the rounds the trainer played it in (up to N envs at
        # a time: the random draws depend on the batch), then any more episodes.
        per_eval = min(count, base.train.eval_episodes)
        kept: dict[int, dict] = {}  # the first episode, for --video
        rows = evaluation_episodes(pool, policy, cfg.train.seed, first, per_eval,
                                   (lambda i, ep: kept.setdefault(0, ep)) if video else None)
        if count > per_eval:
            rows += evaluation_episodes(pool, policy, cfg.train.seed, first + per_eval,
                                        count - per_eval)
        frames = {}
        if video:  # after the episodes, on a forked random state: the rows stay the same
            from agents.run.videos import episode_video, open_loop_frames

            n, ep = cfg.log.video_max_frames, kept[0]
            frames = {"eval": episode_video(ep["image"][:n], ep["reward"][:n]),
                      "open_loop": open_loop_frames(agent.wm, ep, cfg.log.video_context, n,
                                                    device)}
    finally:
        pool.close()

    # The columns every suite has (success where the suite has a flag: Meta-world), then the
    # suite's own (Crafter: achievement_<name>, 0 or 1).
    scores = [k for k in ("return", "success") if k in rows[0]]
    columns = ["episode", "seed", *scores, "length"]
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in columns]
    table = pd.DataFrame(rows, columns=[*columns, *extra])
    summary = {"run": str(run), "checkpoint": str(path), "step": step,
               "episodes": len(rows), "first_episode": first,
               **{k: float(np.mean(table[k])) for k in scores},
               "eval_greedy": cfg.behaviour.eval_greedy, "device": device.type,
               "overrides": list(overrides or []), "logged": None, "reproduced": None}
    if logged is not None:
        summary["logged"] = {k: logged.get(k) for k in (*scores, "episodes")}
        per_eval = base.train.eval_episodes
        if count >= per_eval:
            head = rows[:per_eval]  # the trainer's arithmetic, on its episodes
            summary["reproduced"] = all(
                float(np.mean([r[k] for r in head])) == logged.get(k) for k in scores)
    out.mkdir(parents=True, exist_ok=True)
    csv = io.StringIO()
    table.to_csv(csv, index=False)
    summary["csv"] = str(out / f"step_{step}.csv")
    atomic_write_text(out / f"step_{step}.csv", csv.getvalue())
    if frames:
        from agents.run.videos import publish

        summary["videos"] = [str(p) for p in publish(run, step, frames,
                                                       directory=out / "videos")]
    atomic_write_text(out / f"step_{step}.json", json.dumps(summary, indent=2))
    return summary


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def scores_text(s: dict) -> str:
    """'return R, success S' (success where the suite has it)."""
    text = f"return {s['return']:.6g}"
    return text + (f", success {s['success']:.3g}" if s.get("success") is not None else "")


def summary_line(s: dict) -> str:
    line = (f"{s['run']} step {s['step']}: {plural(s['episodes'], 'episode')} from "
            f"{s['first_episode']}, {scores_text(s)} -> {s['csv']}")
    logged = s["logged"]
    if logged is None:
        return line + f"; no eval row was logged at step {s['step']}"
    said = scores_text(logged)
    n = int(logged.get("episodes") or s["episodes"])
    if s["reproduced"] is None:
        return (line + f"; the eval row logged at step {s['step']} ({said}) averages "
                f"{plural(n, 'episode')}: evaluate at least that many to check it")
    verdict = "reproduced" if s["reproduced"] else "not reproduced"
    checked = (f"the {plural(n, 'episode')}" if n == s["episodes"] else
               f"the first {n} of the {plural(s['episodes'], 'episode')}")
    return (line + f"; {checked} checked against the row logged at step {s['step']} "
            f"({said}): {verdict}")


INTERRUPTED = "interrupted; nothing written (the table is written whole, at the end)"


def main(argv: list[str] | None = None) -> int:
    from agents.envs.parallel import EnvWorkerError
    from agents.run.lock import RunBusyError

    parser = Parser(prog="python -m agents.evaluate", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", metavar="RUN_DIR", type=path_arg("a run directory"),
                        help="a training run's directory")
    parser.add_argument("--checkpoint", default="latest",
                        help="latest (RUN_DIR/ckpt.pt, default) or a checkpoint file's path")
    parser.add_argument("--episodes", type=positive_int,
                        help="evaluation episodes (default: the run's train.eval_episodes)")
    parser.add_argument("--video", action="store_true", help="also write the first "
                        "episode's video and the world model's open loop on it (OUT/videos/)")
    parser.add_argument("--out", type=path_arg("a directory"),
                        help="where the table goes (default: RUN_DIR/evaluate/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field, e.g. "
                        "train.device=cpu or env.num_envs=4")
    args = parser.parse_args(argv)
    stop_on_signals()  # SIGTERM as Ctrl-C
    try:
        check_environment()
        summary = evaluate(args.run, args.checkpoint, args.episodes, args.out, args.overrides,
                           args.video)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (EnvWorkerError, RunBusyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 75 if isinstance(exc, RunBusyError) else 1
    except KeyboardInterrupt:
        quiet_teardown()
        print(INTERRUPTED, file=sys.stderr)
        return 130
    print(summary_line(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # while Python loads the modules
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
