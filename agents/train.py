"""One training run, online (the RL loop, agents/run/loop.py) or offline (the world-model
diagnostics, agents/run/offline.py), resumable:

    python -m agents.train --task metaworld/lever-pull --weighting harmony --seed 0 \\
        --preset quick --out runs/lever-harmony-0 [--set weighting.w_r=100 ...]

DIR receives config.json, metrics.jsonl (tidy rows), status.json, ckpt.pt and replay/.
Starting the same command again resumes from the last checkpoint; a finished run does nothing
and says so (`--retrain` trains it again from scratch, the old record kept in DIR/aside/).
One process writes a run at a time: a second command on the same DIR is refused in one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from agents.cli import Parser, path_arg
from agents.config import (
    PRESETS,
    WEIGHTINGS_REGISTRY,
    Config,
    ConfigError,
    flag_overrides,
    make_config,
)
from agents.envs.variables import check_environment
from agents.run.lock import RunBusyError, run_lock
from agents.run.session import (
    check_config,
    check_setup,
    other_run,
    quiet_teardown,
    stop_on_signals,
)
from agents.run.status import describe, end_recorded, finished_step, has_checkpoint, keep_done

# What --retrain leaves in place: the run's identity and history, not its results.
KEPT_ON_RETRAIN = ("config.json", "provenance.json", "log.txt", ".lock", "aside")


def total_steps(cfg: Config) -> int:
    """The step a finished run's rows reach: env steps online, updates offline."""
    return cfg.offline.updates if cfg.train.mode == "offline" else cfg.train.steps


def set_aside(out: Path) -> Path | None:
    """Move a run's record (rows, status, checkpoints, replay, videos...) into
    OUT/aside/<UTC time>/ so it trains again from scratch; returns where, or None if empty."""
    moving = [p for p in out.iterdir() if p.name not in KEPT_ON_RETRAIN]
    if not moving:
        return None
    aside = out / "aside" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside.mkdir(parents=True, exist_ok=True)
    for path in moving:
        os.replace(path, aside / path.name)
    return aside


def train(cfg: Config, out: str | Path, progress_bar: bool = True,
          retrain: bool = False) -> dict[str, float]:
    """Run (or resume) one training run to completion; returns the last evaluation. A run
    whose record says it finished is left as it is (one line; `retrain` sets its record
    aside and trains it again). Holds the run's lock (RunBusyError if another process does);
    any exception once the run is "running" leaves it failed or interrupted, with why."""
    out = Path(out)
    check_setup(cfg)  # before anything is written
    if other_run(out, cfg):
        check_config(out, cfg)  # raises its one line
    with run_lock(out):
        check_config(out, cfg)
        if retrain:
            aside = set_aside(out)
            if aside is not None:
                print(f"{out}: retraining from scratch; the old record is in {aside}",
                      file=sys.stderr)
        elif (step := finished_step(out, total_steps(cfg))) is not None:
            gone = "" if has_checkpoint(out) else "; checkpoints deleted"
            print(f"{out}: done at step {step}{gone}: nothing to do (--retrain trains it "
                  "again, keeping the old record aside)", file=sys.stderr)
            return keep_done(out, step)
        if progress_bar:
            from agents.config.show import summary

            print(summary(cfg, str(out)), file=sys.stderr)
        with end_recorded(out):
            if cfg.train.mode == "offline":
                from agents.run.offline import OfflineTrainer

                return OfflineTrainer(cfg, out, progress_bar).run()
            from agents.run.loop import Trainer

            return Trainer(cfg, out, progress_bar).run()


def task_help() -> str:
    """--task's help, from the suite registry (agents/envs/registry.py)."""
    from agents.envs import SUITES

    forms = [s.pattern for s in SUITES.values()]
    return f"{', '.join(forms[:-1])} or {forms[-1]}"


def agent_help() -> str:
    """--agent's help, from the family and suite registries: which suites each family acts
    in."""
    from agents.config import FAMILIES
    from agents.envs import SUITES

    acts = {a: [s.prefix for s in SUITES.values() if a in s.families] for a in FAMILIES}
    return ("; ".join(f"{a}{' (default)' if i == 0 else ''}: {', '.join(acts[a]) or 'none'}"
                      for i, a in enumerate(FAMILIES)) + "; the same as --set model.agent=...")


def parse_args(argv: list[str] | None = None) -> tuple[Config, argparse.Namespace]:
    parser = Parser(prog="python -m agents.train", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="metaworld/lever-pull", help=task_help())
    parser.add_argument("--weighting", help=f"{', '.join(WEIGHTINGS_REGISTRY)} (fixed by "
                        "default; docs/arena.md describes each); the same as --set "
                        "weighting.name=...")
    parser.add_argument("--agent", help=agent_help())
    parser.add_argument("--seed", type=int, help="0 by default; the same as --set train.seed")
    parser.add_argument("--preset", default="quick",
                        help=f"{', '.join(PRESETS)} (default quick; docs/training.md)")
    parser.add_argument("--out", required=True, type=path_arg("a run directory"),
                        help="run directory (resumes if it exists)")
    parser.add_argument("--retrain", action="store_true", help="train a finished run again "
                        "from scratch; its old record is moved to OUT/aside/<time>/")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override any config field, e.g. model.deter=512")
    parser.add_argument("--no-progress", "--quiet", action="store_true",
                        help="no progress bar, run summary or console lines (log.console_every)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved "
                        "config (python -m agents.config show) and exit without training")
    args = parser.parse_args(argv)
    check_environment()
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out} is not a directory")
    # An option and a --set of its key that disagree are an error, not a silent choice.
    overrides = [*flag_overrides({"model.agent": ("--agent", args.agent),
                                  "weighting.name": ("--weighting", args.weighting),
                                  "train.seed": ("--seed", args.seed)}, args.overrides),
                 *args.overrides]
    return make_config(args.preset, args.task, overrides), args


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, args = parse_args(argv)  # before torch or a simulator is imported
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        from agents.config.show import render

        print(render(cfg))
        return 0
    stop_on_signals()
    try:
        result = train(cfg, args.out, progress_bar=not args.no_progress, retrain=args.retrain)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 75  # EX_TEMPFAIL, as the local executor's busy runs
    except KeyboardInterrupt:
        quiet_teardown()
        print(f"interrupted; resume with the same command ({args.out})", file=sys.stderr)
        return 130
    except Exception as exc:  # one line; status.json says failed and why
        from agents.envs.parallel import EnvWorkerError
        from agents.update.learner import NonFiniteLossError

        text = str(exc) if isinstance(exc, NonFiniteLossError | EnvWorkerError) else describe(exc)
        kept = (f"; last good checkpoint kept in {args.out}" if has_checkpoint(Path(args.out))
                else "")
        print(f"error: {text}{kept}", file=sys.stderr)
        return 1
    print(json.dumps({"out": str(args.out), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
