"""Run a study's grid: python -m study.run STUDY [options].

Finished runs are never run again, partly finished ones resume from their checkpoint, failed
ones are retried only with --retry-failed. Executor: local (a pool of worker processes).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agents.config import PRESETS, ConfigError
from study.grid import expand
from study.results import run_dir, run_state, write_study_index
from study.specs import STUDIES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m study.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", help=f"one of: {', '.join(STUDIES)}")
    p.add_argument("--preset", default="quick", help=f"{', '.join(PRESETS)} (default: quick)")
    p.add_argument("--executor", default="local", help="local (default)")
    p.add_argument("--seeds", type=int, help="seeds per cell (default: 3 quick, 5 paper)")
    p.add_argument("--tasks", nargs="+", help="restrict to these tasks")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override any config field for every run")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="local executor: runs at once (default: number of cores)")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--dry-run", action="store_true", help="print the grid and exit")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--no-progress", action="store_true")
    return p


def print_grid(runs, results: Path) -> None:
    print(f"{'run id':<13} {'task':<28} {'weighting':<20} {'seed':>4}  status")
    for run in runs:
        state, _ = run_state(run_dir(results, run))
        print(f"{run.id:<13} {run.task:<28} {run.label:<20} {run.seed:>4}  {state}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.executor != "local":
            raise ConfigError(f"unknown executor {args.executor!r}; available: local")
        if args.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {args.workers}")
        runs = expand(args.study, args.preset, args.seeds, args.tasks, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = Path(args.results)
    if args.dry_run:
        print_grid(runs, results)
        return 0
    write_study_index(results, args.study, runs, args.preset)
    todo = []
    for run in runs:
        state, _ = run_state(run_dir(results, run))
        if state == "done" or (state == "failed" and not args.retry_failed):
            continue
        todo.append(run)
    skipped = len(runs) - len(todo)
    print(f"{args.study}: {len(runs)} runs, {len(todo)} to run, {skipped} done or failed "
          f"(preset {args.preset}, results in {results})")
    from study.executors import run_local

    try:
        outcome = run_local(todo, results, args.workers, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    print(f"{args.study}: {outcome['done']} finished, {outcome['failed']} failed")
    return 1 if outcome["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
