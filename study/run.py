"""Run a study's grid: python -m study.run STUDY [options].

Finished runs are never run again, partly finished ones resume from their checkpoint, failed
ones are retried only with --retry-failed.

Executors: `local` (default; a pool of worker processes) or `slurm` (a submitit job array;
returns once the jobs are queued unless --wait). SLURM options come from --partition/--time/...
or a JSON profile (`--profile slurm/profiles/local.json`); options given on the command line
win. Jobs get `--signal` before their time limit and requeue, resuming from the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.config import PRESETS, ConfigError
from agents.envs import check_environment
from agents.run import Parser, path_arg, positive_int, stop_on_signals
from study.grid import expand, run_columns
from study.local import usable_cores
from study.results import run_dir, write_study_index
from study.specs import STUDIES
from study.state import run_states


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m study.run", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", help=f"one of: {', '.join(STUDIES)}")
    p.add_argument("--preset", default="quick", help=f"{', '.join(PRESETS)} (default: quick)")
    p.add_argument("--executor", default="local", help="local (default) or slurm")
    p.add_argument("--seeds", type=positive_int, help="seeds per cell (default: 3 quick, 5 paper)")
    p.add_argument("--tasks", nargs="+", help="restrict to these tasks")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override any config field for every run")
    p.add_argument("--workers", type=positive_int, default=usable_cores(),
                   help="local executor: runs at once (default: the cores this process may "
                        "use, e.g. under taskset)")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--dry-run", action="store_true", help="print the grid and exit")
    p.add_argument("--index-only", action="store_true",
                   help="record the grid in the study index (results/studies/STUDY.json) and "
                        "exit, running nothing: rebuilds a damaged index")
    p.add_argument("--results", default="results", type=path_arg("a results directory"),
                   help="results directory (default: results)")
    p.add_argument("--no-progress", action="store_true")
    s = p.add_argument_group("slurm executor")
    s.add_argument("--wait", action="store_true", help="wait for the jobs and report them")
    s.add_argument("--profile", help="JSON file of SLURM options (partition, time, cpus, ...)")
    for name, help_ in (("partition", "partition"), ("time", "time limit per job, minutes"),
                        ("cpus", "CPUs per job (default 2)"), ("mem-gb", "memory per job, GB"),
                        ("gpus", "GPUs per job"), ("account", "account")):
        s.add_argument(f"--{name}", help=help_)
    return p


def print_grid(runs, results: Path) -> None:
    start = run_columns((r.task for r in runs), (r.label for r in runs))
    print(start("run id", "task", "weighting", "seed") + f"{'mode':<8} status")
    for run, st in zip(runs, run_states([run_dir(results, r) for r in runs]), strict=True):
        print(start(run.id, run.task, run.label, run.seed)
              + f"{run.config.train.mode:<8} {st.state}")


def mode_line(study: str, preset: str, runs) -> str | None:
    """What the runs are, said first: offline world-model diagnostics are not RL."""
    offline = sum(run.config.train.mode == "offline" for run in runs)
    if not offline:
        return None
    which = "all runs are" if offline == len(runs) else f"{offline} of {len(runs)} runs are"
    kinds = sorted({run.config.offline.data for run in runs if run.config.train.mode == "offline"})
    return (f"{study} at {preset}: {which} offline world-model diagnostics (world models "
            f"trained on {' and '.join(kinds)} data, scored on held-out episodes), not "
            "reinforcement learning; the paper preset runs the RL loop")


# SLURM options a profile may set: the lowest value of the integer ones (None: a string).
SLURM_OPTIONS = {"partition": None, "account": None, "name": None, "time": 1, "cpus": 1,
                 "mem_gb": 1, "gpus": 0, "signal_delay": 1, "max_timeouts": 0, "parallel": 1}


def slurm_options_from(args: argparse.Namespace) -> dict:
    import importlib.util
    import shutil

    if importlib.util.find_spec("submitit") is None:
        raise ConfigError("--executor slurm needs submitit: pip install submitit")
    if shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm needs sbatch on PATH (a SLURM client); "
                          "for a local cluster: sudo bash slurm/cluster.sh start")
    options = {}
    if args.profile:
        try:
            options = json.loads(Path(args.profile).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read SLURM profile {args.profile}: {exc}") from None
        if not isinstance(options, dict):
            raise ConfigError(f"SLURM profile {args.profile} must hold a JSON object")
        unknown = sorted(set(options) - set(SLURM_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown SLURM option(s) {', '.join(unknown)} in {args.profile}; "
                              f"known: {', '.join(SLURM_OPTIONS)}")
    for key in ("partition", "time", "cpus", "mem_gb", "gpus", "account"):
        value = getattr(args, key)
        if value is not None:
            options[key] = value
    for key, low in SLURM_OPTIONS.items():
        if key in options and low is not None:
            try:
                if int(options[key]) < low or float(options[key]) != int(options[key]):
                    raise ValueError
            except (TypeError, ValueError):
                raise ConfigError(f"bad SLURM option {key}: {options[key]!r} "
                                  f"(an integer >= {low})") from None
    if int(options.get("signal_delay", 90)) >= 60 * int(options.get("time", 60 * 24)):
        raise ConfigError("SLURM signal_delay (s) must be shorter than the time limit "
                          f"({options.get('time')} min); set signal_delay in the profile")
    return options


def check_devices(runs) -> None:
    """Local runs that ask for CUDA need it here (on SLURM the nodes are the judge)."""
    from agents.run import resolve_device

    for device in {r.config.train.device for r in runs}:
        resolve_device(device)  # ConfigError where CUDA is asked for and absent


def check_results_path(results: Path) -> None:
    """--results must be a directory or a path one can make into one: ConfigError if it, or
    the nearest part of it that exists, is not a directory."""
    if results.exists() and not results.is_dir():
        raise ConfigError(f"--results {results} is not a directory")
    for parent in results.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--results {results}: {parent} is not a directory")
            break


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_environment()  # what the runs will read, before any of them starts
        if args.executor not in ("local", "slurm"):
            raise ConfigError(f"unknown executor {args.executor!r}; choose local or slurm")
        slurm_options = slurm_options_from(args) if args.executor == "slurm" else {}
        if args.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {args.workers}")
        runs = expand(args.study, args.preset, args.seeds, args.tasks, args.overrides)
        if args.executor == "local" and not args.dry_run:
            check_devices(runs)
        check_results_path(Path(args.results))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = Path(args.results)
    line = mode_line(args.study, args.preset, runs)
    if line:
        print(line)
    if args.dry_run:
        print_grid(runs, results)
        return 0
    try:  # the first write: an unusable --results stops here, before any run starts
        write_study_index(results, args.study, runs, args.preset, args.overrides, args.tasks,
                          args.seeds)
    except OSError as exc:
        print(f"error: cannot write to --results {results}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    if args.index_only:
        print(f"{args.study}: {len(runs)} runs recorded in "
              f"{results / 'studies' / (args.study + '.json')}")
        return 0
    # Done runs are kept, failed ones wait for --retry-failed, and runs whose job or process
    # is alive are left to it; interrupted (cancelled, timed out, killed) runs resume.
    todo, alive = [], 0
    for run, st in zip(runs, run_states([run_dir(results, r) for r in runs]), strict=True):
        alive += st.alive
        if st.state == "done" or st.alive or (st.state == "failed" and not args.retry_failed):
            continue
        todo.append(run)
    skipped = len(runs) - len(todo) - alive
    print(f"{args.study}: {len(runs)} runs, {len(todo)} to run, {skipped} done or failed, "
          f"{alive} running elsewhere (preset {args.preset}, results in {results})")
    from study.local import run_local
    from study.slurm import run_slurm

    stop_on_signals()
    try:
        if args.executor == "slurm":
            if not todo:
                return 0
            outcome = run_slurm(todo, results, slurm_options, args.wait,
                                progress=not args.no_progress)
            if not args.wait:
                print(f"{args.study}: {len(todo)} jobs queued; follow them with "
                      f"python -m study.status {args.study} --results {results}")
                return 0
        else:
            # Bars on a terminal; in a log (not a tty) a status line per minute instead.
            bars = not args.no_progress and sys.stderr.isatty()
            outcome = run_local(todo, results, args.workers, progress=bars)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    interrupted, elsewhere = outcome.get("interrupted", 0), outcome.get("elsewhere", 0)
    print(f"{args.study}: {outcome['done']} finished, {outcome['failed']} failed"
          + (f", {interrupted} interrupted (re-run to resume)" if interrupted else "")
          + (f", {elsewhere} left to another process training them" if elsewhere else ""))
    return 1 if outcome["failed"] or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
