"""Load a study's runs from the results store into one tidy table.

One row per (run, step, split, metric): run_id, study, task, label, weighting, w_o, w_r, w_d,
seed, state, step, split, metric, value. Runs that are missing, failed or unreadable are
skipped with one warning naming them, so a report never crashes on a half-finished study.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

RUN_COLUMNS = ["run_id", "study", "task", "label", "weighting", "w_o", "w_r", "w_d", "seed"]
COLUMNS = [*RUN_COLUMNS, "state", "step", "split", "metric", "value"]


class NoResultsError(RuntimeError):
    """A study with no run that can be analysed."""


def study_index(results: str | Path, study: str) -> dict:
    path = Path(results) / "studies" / f"{study}.json"
    if not path.exists():
        raise NoResultsError(f"no runs of study {study!r} under {results} "
                             f"(run `python -m study.run {study}` first)")
    return json.loads(path.read_text())


def run_status(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "status.json").read_text()).get("state", "pending")
    except (OSError, json.JSONDecodeError):
        return "pending"


def read_metrics(path: str | Path) -> pd.DataFrame:
    """metrics.jsonl -> long table (step, split, metric, value); a torn last line is dropped."""
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    if not rows:
        return pd.DataFrame(columns=["step", "split", "metric", "value"])
    wide = pd.DataFrame(rows)
    long = wide.melt(id_vars=["step", "split"], var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long.dropna(subset=["value"]).reset_index(drop=True)


def load_study(results: str | Path, study: str, include_running: bool = False) -> pd.DataFrame:
    """All finished runs of `study` as one tidy table (see the module docstring)."""
    results = Path(results)
    index = study_index(results, study)
    frames, skipped = [], []
    states = ("done", "running", "interrupted") if include_running else ("done",)
    for run in index["runs"]:
        run_dir = results / run["run_id"]
        state = run_status(run_dir)
        if state not in states:
            skipped.append(f"{run['run_id']} ({run['task']} {run['label']} s{run['seed']}: "
                           f"{state})")
            continue
        try:
            metrics = read_metrics(run_dir / "metrics.jsonl")
        except OSError as exc:
            skipped.append(f"{run['run_id']} (unreadable metrics: {exc})")
            continue
        for col in RUN_COLUMNS:
            metrics[col] = study if col == "study" else run[col]
        metrics["state"] = state
        frames.append(metrics)
    if skipped:
        warnings.warn(f"{study}: skipped {len(skipped)} run(s): " + "; ".join(skipped),
                      stacklevel=2)
    if not frames:
        raise NoResultsError(f"study {study!r} has no finished runs under {results} "
                             f"({len(index['runs'])} in its grid)")
    table = pd.concat(frames, ignore_index=True)[COLUMNS]
    table["step"] = table["step"].astype(int)
    return table


def metric(table: pd.DataFrame, name: str, split: str = "eval") -> pd.DataFrame:
    """One metric as a run-level table: RUN_COLUMNS + step + value."""
    rows = table[(table["metric"] == name) & (table["split"] == split)]
    return rows[[*RUN_COLUMNS, "step", "value"]].reset_index(drop=True)


def run_dirs(results: str | Path, study: str, done_only: bool = True) -> pd.DataFrame:
    """The study's runs with their directories (for analyses that read checkpoints)."""
    results = Path(results)
    runs = pd.DataFrame(study_index(results, study)["runs"]).assign(study=study)
    runs["dir"] = [str(results / r) for r in runs["run_id"]]
    runs["state"] = [run_status(Path(d)) for d in runs["dir"]]
    if done_only:
        runs = runs[runs["state"] == "done"]
    return runs.reset_index(drop=True)


SCALES = {
    "smoke": "a smoke-scale run (tiny model, a few hundred env steps): it checks the pipeline "
             "end to end and says nothing about the paper's claims",
    "quick": "the laptop-scale `quick` preset (small model, short runs): directions can show, "
             "magnitudes are not the paper's",
    "gpu": "the `gpu` preset (the small model on one GPU, many more updates than on a laptop): "
           "directions and learned weights can show, magnitudes are not the paper's",
    "paper": "the paper's configuration (`paper` preset)",
}


def scale_note(index: dict, table: pd.DataFrame) -> str:
    """One Markdown line: which preset produced these numbers and how many runs finished."""
    done = table["run_id"].nunique()
    preset = index.get("preset", "unknown")
    return (f"**Preset `{preset}`**: {done} of {len(index['runs'])} runs of the grid finished. "
            f"These numbers come from "
            f"{index.get('scale') or SCALES.get(preset, 'an unknown preset')}.")
