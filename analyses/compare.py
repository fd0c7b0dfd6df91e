"""Compare a few run folders outside any study:

    python -m analyses.compare RUN_DIR RUN_DIR... [--metric eval/return] [--out fig.png]
                                                   [--csv table.csv]

It says which config fields differ between the runs and labels each run by them, prints a
table of each run's final and best value of the metric (best: the lowest for losses and
errors, else the highest), and with --out plots the metric against the step. Runs of
different scales (presets) or modes (online, offline) are refused: their curves do not share
an axis.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from analyses.load import read_metrics

LOWER_IS_BETTER = re.compile(r"loss|rmse|mse|error|kl")


class CompareError(ValueError):
    """Runs that cannot be compared, or a metric none of them has: one line."""


def flat(config: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list) else value
    return out


def load_run(run_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    run = Path(run_dir)
    try:
        config = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        raise CompareError(f"{run_dir}: no readable config.json (not a run directory?)") from None
    if not (run / "metrics.jsonl").is_file():
        raise CompareError(f"{run_dir}: no metrics.jsonl")
    return config, read_metrics(run / "metrics.jsonl")


def differing(configs: list[dict]) -> dict[str, list]:
    """The config fields whose values differ between the runs (the execution-only ones, such
    as threads and outputs, left out): field -> each run's value."""
    from agents.config import EXECUTION_KEYS

    skip = {f"{section}.{key}" for section, key in EXECUTION_KEYS}
    flats = [flat(c) for c in configs]
    keys = sorted(set().union(*flats) - skip)
    return {k: [f.get(k) for f in flats] for k in keys if len({repr(f.get(k)) for f in flats}) > 1}


def check_scale(configs: list[dict], names: list[str]) -> None:
    for field, get in (("preset", lambda c: c.get("preset")),
                       ("train.mode", lambda c: c.get("train", {}).get("mode", "online"))):
        values = [get(c) for c in configs]
        if len(set(values)) > 1:
            pairs = ", ".join(f"{n}: {v}" for n, v in zip(names, values, strict=True))
            raise CompareError(f"the runs differ in {field} ({pairs}); compare runs of one "
                               "scale")


def compare(run_dirs: list[str], metric: str = "eval/return"
            ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list]]:
    """(the curves: run, step, value; the table: run, final, best, steps; the differing
    fields). Runs are labelled by their values of the differing fields."""
    if len(run_dirs) < 2:
        raise CompareError("give two or more run directories")
    split, _, name = metric.partition("/")
    if not name:
        raise CompareError(f"--metric {metric!r}: write it as split/metric, e.g. eval/return")
    loaded = [load_run(d) for d in run_dirs]
    configs = [c for c, _ in loaded]
    check_scale(configs, run_dirs)
    diff = differing(configs)
    labels = [" ".join(f"{k}={v[i]}" for k, v in diff.items()) or Path(d).name
              for i, d in enumerate(run_dirs)]
    labels = [label if labels.count(label) == 1 else f"{label} ({Path(d).name})"
              for label, d in zip(labels, run_dirs, strict=True)]
    curves = []
    for label, (_, table) in zip(labels, loaded, strict=True):
        rows = table[(table.split == split) & (table.metric == name)]
        curves.append(pd.DataFrame({"run": label, "step": rows.step, "value": rows.value}))
    curves_df = pd.concat(curves, ignore_index=True).sort_values(["run", "step"])
    if curves_df.empty:
        found = sorted({f"{s}/{m}" for _, t in loaded for s, m in zip(t.split, t.metric,
                                                                         strict=True)})
        raise CompareError(f"no run has {metric}; they have: {', '.join(found[:20])}")
    lower = bool(LOWER_IS_BETTER.search(name))
    table = curves_df.groupby("run", sort=False).agg(
        final=("value", "last"), best=("value", "min" if lower else "max"),
        steps=("step", "max")).reindex([lb for lb in labels if lb in set(curves_df.run)])
    return curves_df, table, diff


def plot(curves: pd.DataFrame, metric: str, out: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=curves, x="step", y="value", hue="run", marker="o", ax=ax)
    ax.set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from agents.run import Parser

    parser = Parser(prog="python -m analyses.compare", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--metric", default="eval/return", help="split/metric (eval/return)")
    parser.add_argument("--out", help="write the curves' figure here (.png, .pdf, .svg)")
    parser.add_argument("--csv", help="write the table here")
    args = parser.parse_args(argv)
    try:
        curves, table, diff = compare(args.runs, args.metric)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if diff:
        print("differ: " + "; ".join(f"{k} ({', '.join(map(str, v))})" for k, v in diff.items()))
    else:
        print("differ: nothing (the runs share every config field)")
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        table.to_csv(args.csv)
    if args.out:
        plot(curves, args.metric, args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
