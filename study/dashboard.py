"""TensorBoard over a study's runs, each named by its cell (task, weighting label, seed) rather
than its directory's hash:

    python -m study.dashboard finding1 [--results DIR] [--print] [-- --port 6007 ...]

Runs log to TensorBoard with `--set log.outputs=jsonl,tensorboard` (or get it afterwards with
`python -m agents.export RUN_DIR --tensorboard`). The names reach TensorBoard through its own
`--logdir_spec name:path,...`, so nothing is linked or copied inside the results folder.
Arguments after `--` go to TensorBoard; `--print` prints the command instead of starting it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from agents.config import ConfigError
from agents.run import Parser, path_arg
from study.results import StudyIndexError, recorded_runs


def run_name(row: dict) -> str:
    """A run's TensorBoard name: 'task label sSEED' (no ',' or ':', which the spec splits on)."""
    name = f"{row['task']} {row['label']} s{row['seed']}"
    return name.replace(",", ";").replace(":", "=")


def logdir_spec(results: Path, rows: list[dict]) -> tuple[str, int]:
    """TensorBoard's --logdir_spec for the rows' runs that have event files (absolute paths),
    and how many rows have none. Each names a run directory, not its tb/: TensorBoard shows a
    named directory's event folders as `name/<folder>`, so the run appears as 'name/tb' (a
    record set aside by --retrain as 'name/aside/<time>/tb') where tb/ itself would be 'name/.'."""
    specs, missing = [], 0
    for row in rows:
        run = (results / row["run_id"]).resolve()
        if any((run / "tb").glob("events.out.tfevents.*")):
            specs.append(f"{run_name(row)}:{run}")
        else:
            missing += 1
    return ",".join(specs), missing


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = Parser(prog="python -m study.dashboard", description=__doc__)
    p.add_argument("study")
    p.add_argument("--results", default="results", type=path_arg("a results directory"))
    p.add_argument("--print", action="store_true", help="print the TensorBoard command and exit")
    args = p.parse_args(argv)
    results = Path(args.results)
    try:
        rows = recorded_runs(results, args.study)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StudyIndexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    spec, missing = logdir_spec(results, rows)
    if not spec:
        print(f"error: none of the {len(rows)} runs of {args.study!r} has TensorBoard events "
              "(run the study with --set log.outputs=jsonl,tensorboard, or python -m "
              "agents.export RUN_DIR --tensorboard)", file=sys.stderr)
        return 1
    if missing:
        print(f"{missing} of {len(rows)} runs have no TensorBoard events and are left out",
              file=sys.stderr)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir_spec", spec, *extra]
    if args.print:
        print(shlex.join(command))
        return 0
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
