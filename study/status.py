"""Per-run state of a study: python -m study.status STUDY [--results DIR]."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from study.results import STATES, run_state


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m study.status", description=__doc__)
    p.add_argument("study")
    p.add_argument("--results", default="results")
    args = p.parse_args(argv)
    index = Path(args.results) / "studies" / f"{args.study}.json"
    if not index.exists():
        print(f"error: no runs recorded for study {args.study!r} in {args.results} "
              f"(run: python -m study.run {args.study})", file=sys.stderr)
        return 2
    rows = json.loads(index.read_text())["runs"]
    counts: Counter[str] = Counter()
    print(f"{'run id':<13} {'task':<28} {'weighting':<20} {'seed':>4}  {'state':<11} detail")
    for row in rows:
        state, detail = run_state(Path(args.results) / row["run_id"])
        counts[state] += 1
        print(f"{row['run_id']:<13} {row['task']:<28} {row['label']:<20} {row['seed']:>4}  "
              f"{state:<11} {detail}")
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    print(f"{args.study}: {len(rows)} runs: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
