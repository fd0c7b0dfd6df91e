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

from study.selection import (  # noqa: F401  (the notebooks read them here)
    NoResultsError,
    interim,
    nothing_to_report,
    report_rows,
    reportable,
    run_statuses,
    study_index,
    variant,
)
from study.specs import SCALES
from study.state import STATES

RUN_COLUMNS = ["run_id", "study", "task", "label", "weighting", "w_o", "w_r", "w_d", "seed"]
COLUMNS = [*RUN_COLUMNS, "state", "step", "split", "metric", "value"]


def read_metrics(path: str | Path) -> pd.DataFrame:
    """metrics.jsonl -> long table (step, split, metric, value); a torn or damaged line, or
    one that is JSON but not a row, is dropped."""
    from agents.run import parse_row

    with open(path, "rb") as f:
        rows = [row for row in map(parse_row, f) if row is not None]
    if not rows:
        return pd.DataFrame(columns=["step", "split", "metric", "value"])
    wide = pd.DataFrame(rows)
    long = wide.melt(id_vars=["step", "split"], var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long.dropna(subset=["value"]).reset_index(drop=True)


def load_study(results: str | Path, study: str,
               include_running: bool | None = None) -> pd.DataFrame:
    """All finished runs of `study` as one tidy table (see the module docstring), and with
    `include_running` (default: for an interim study, `interim`) the unfinished ones too;
    which runs, study/selection.py says."""
    results = Path(results)
    rows, status, states, left_out = reportable(results, study, include_running)
    if left_out:
        warnings.warn(f"{study}: {left_out}", stacklevel=2)
    frames, skipped = [], []
    for run in rows:
        run_dir = results / run["run_id"]
        state = status[run["run_id"]]
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
        raise nothing_to_report(results, study, len(rows), len(states) > 1)
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
    index = study_index(results, study)
    status = run_statuses(results, index)
    rows, _ = report_rows(index, status, ("done",) if done_only else STATES, study)
    runs = pd.DataFrame(rows).assign(study=study)
    runs["dir"] = [str(results / r) for r in runs["run_id"]]
    runs["state"] = [status[r] for r in runs["run_id"]]
    if done_only:
        runs = runs[runs["state"] == "done"]
    return runs.reset_index(drop=True)


def run_config(results: str | Path, run_id: str) -> dict:
    """A run's config.json as a dict ({} where it is missing or unreadable)."""
    try:
        return json.loads((Path(results) / run_id / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def offline_setup(cfg: dict) -> str:
    """What an offline run trained on, from its config: '600 updates (batch 8 x 50) on 32
    training episodes of replay_like data (random 10%, ...), 8 held out'."""
    from agents.data import describe_mix

    o, r = cfg["offline"], cfg["replay"]
    data = o.get("data", "expert")
    what = (f"scripted-expert data (action noise {', '.join(f'{n}%' for n in o['noise_pct'])})"
            if data == "expert" else f"{data} data ({describe_mix(tuple(o['mix']))})")
    return (f"{o['updates']} updates (batch {r['batch_size']} x {r['seq_len']}) on "
            f"{o['episodes'] - o['heldout']} training episodes of {what}, {o['heldout']} "
            "held out")


def offline_setups(results: str | Path, run_ids) -> list[str]:
    """The distinct `offline_setup` descriptions of these runs' offline configs."""
    configs = (run_config(results, r) for r in run_ids)
    return sorted({offline_setup(c) for c in configs
                   if c.get("train", {}).get("mode") == "offline"})


def scale_note(index: dict, table: pd.DataFrame, results: str | Path | None = None) -> str:
    """Markdown: which preset produced these numbers and how many of the grid's runs
    (distinct runs of the configuration the table holds) finished, and how many unfinished
    ones the table shows, after a heading saying so where the runs are offline world-model
    diagnostics."""
    states = table.groupby("run_id")["state"].first()
    done = int((states == "done").sum())
    unfinished = len(states) - done
    loaded = set(table["run_id"])
    variants = {variant(index, r) for r in index["runs"] if r["run_id"] in loaded}
    grid = {r["run_id"] for r in index["runs"]
            if not variants or variant(index, r) in variants}
    presets = sorted({str(v[0]) for v in variants}) or [str(index.get("preset", "unknown"))]
    preset = presets[0] if len(presets) == 1 else " + ".join(presets)
    scale = (index.get("scales", {}).get(preset)
             or (index.get("scale") if preset == index.get("preset") else None)
             or SCALES.get(preset, "an unknown preset"))  # a study's own: write_study_index
    modes = {r.get("mode") for r in index["runs"] if r["run_id"] in loaded}
    line = f"**Preset `{preset}`**: {done} of {len(grid)} runs of the grid finished"
    if unfinished:  # an interim report (include_running): say so before any number
        line += (f"; {unfinished} more, still running or interrupted, "
                 f"{'is' if unfinished == 1 else 'are'} shown up to the last step logged")
    line += f". These numbers come from {scale}."
    if "offline" in modes:  # said first, as a heading: these are not RL runs
        which = "These runs are" if modes == {"offline"} else "Some of these runs are"
        setups = offline_setups(results, loaded) if results else []
        trained = "; ".join(setups) or "scripted-expert or replay-like data"
        line = (f"### Offline world-model diagnostics, not reinforcement learning\n\n{which} "
                f"world models trained for {trained}, scored on the held-out episodes; the "
                "`paper` preset runs the RL loop the paper's claims are about.\n\n" + line)
    return line
