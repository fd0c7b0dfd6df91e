"""Per-run state of a study: python -m study.status STUDY [--results DIR].

States are checked, not just read: a run whose status.json says "running" is looked up in
SLURM's accounting (sacct) or the process table, so a cancelled, timed-out, out-of-memory,
node-failed or vanished run shows as interrupted or failed, with the SLURM state and the last
line of its log.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from agents.config import ConfigError
from agents.run import Parser, path_arg
from study.grid import run_columns
from study.results import StudyIndexError, recorded_runs
from study.state import STATES, run_states


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m study.status", description=__doc__)
    p.add_argument("study")
    p.add_argument("--results", default="results", type=path_arg("a results directory"))
    args = p.parse_args(argv)
    try:
        rows = recorded_runs(Path(args.results), args.study)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StudyIndexError as exc:  # damaged: one line, with the command that rebuilds it
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts: Counter[str] = Counter()
    start = run_columns((row["task"] for row in rows), (row["label"] for row in rows))
    print(start("run id", "task", "weighting", "seed") + f"{'state':<11} detail")
    directories = [Path(args.results) / row["run_id"] for row in rows]
    states = run_states(directories)
    for row, (state, detail, _) in zip(rows, states, strict=True):
        counts[state] += 1
        print(start(row["run_id"], row["task"], row["label"], row["seed"])
              + f"{state:<11} {detail}")
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    print(f"{args.study}: {len(rows)} runs: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
