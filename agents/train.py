"""One training run, online (the RL loop, agents/run/loop.py) or offline (the world-model
diagnostics, agents/run/offline.py), resumable:

    python -m agents.train --task metaworld/lever-pull --weighting harmony --seed 0 \
        --preset quick --out runs/lever-harmony-0 [--set weighting.w_r=100 ...]

DIR receives config.json, metrics.jsonl (tidy rows), status.json, ckpt.pt and replay/.
Starting the same command again resumes from the last checkpoint; a finished run does nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.config import Config, ConfigError, make_config
from agents.run.cli import Parser, flag_overrides
from agents.run.session import stop_on_signals
from agents.run.status import describe
from agents.update.dreamer import NonFiniteLossError


def train(cfg: Config, out: str | Path, progress_bar: bool = True) -> dict[str, float]:
    """Run (or resume) one training run to completion; returns the last evaluation."""
    if cfg.train.mode == "offline":
        from agents.run.offline import OfflineTrainer

        return OfflineTrainer(cfg, out, progress_bar).run()
    from agents.run.loop import Trainer

    return Trainer(cfg, out, progress_bar).run()


def parse_args(argv: list[str] | None = None) -> tuple[Config, argparse.Namespace]:
    parser = Parser(prog="python -m agents.train", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="metaworld/lever-pull",
                        help="metaworld/<task>, dmc/<domain>-<task> or atari/<game>")
    parser.add_argument("--weighting", help="fixed (default), reward_only, observation_only, "
                        "harmony, harmony_unrectified, harmony_fixed_dyn, uncertainty; the "
                        "same as --set weighting.name=...")
    parser.add_argument("--agent", help="dreamerv2 (default) or dreamerv3 (atari/ tasks need "
                        "dreamerv3); the same as --set model.agent=...")
    parser.add_argument("--seed", type=int, help="0 by default; the same as --set train.seed")
    parser.add_argument("--preset", default="quick", help="smoke, quick or paper")
    parser.add_argument("--out", required=True, help="run directory (resumes if it exists)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override any config field, e.g. model.deter=512")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if not args.out.strip():
        raise ConfigError("--out must name a run directory")
    # An option and a --set of its key that disagree are an error, not a silent choice.
    overrides = [*flag_overrides({"model.agent": ("--agent", args.agent),
                                  "weighting.name": ("--weighting", args.weighting),
                                  "train.seed": ("--seed", args.seed)}, args.overrides),
                 *args.overrides]
    return make_config(args.preset, args.task, overrides), args


def main(argv: list[str] | None = None) -> int:
    from agents.envs.parallel import EnvWorkerError

    try:
        cfg, args = parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop_on_signals()
    try:
        result = train(cfg, args.out, progress_bar=not args.no_progress)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (NonFiniteLossError, EnvWorkerError) as exc:
        print(f"error: {exc}; last good checkpoint kept in {args.out}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a vanished mount: one line, the checkpoint is kept
        print(f"error: {describe(exc)}; last good checkpoint kept in {args.out}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; resume with the same command ({args.out})", file=sys.stderr)
        return 130
    print(json.dumps({"out": str(args.out), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
