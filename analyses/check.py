"""Does our DreamerV2 learn as the published one does? Our curves computed the way each
reference computed its own, and a verdict per task at fixed checkpoints.

- DMC (danijar/dreamerv2): the mean training-episode return in 30K-frame bins, at the bin's
  right edge; ours from the `episode` rows of each run.
- Meta-world (APV repository, the paper's protocol): evaluation success at 5K, 15K, ...;
  ours from the `eval` rows, matched to the nearest reference step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses import reference
from analyses.load import RUN_COLUMNS, metric

CHECKPOINTS = (100_000, 250_000, 500_000)  # env frames
BIN = 30_000


def our_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Per run and step, on each reference's own terms: DMC binned training return,
    Meta-world eval success. Columns: run columns, step, value, source."""
    episodes = metric(table, "return", split="episode")
    dmc = episodes[episodes["task"].str.startswith("dmc/")]
    dmc = reference.bin_returns(dmc[[*RUN_COLUMNS, "step", "value"]], BIN).assign(source="dmc")
    success = metric(table, "success")
    mw = success[success["task"].str.startswith("metaworld/")][[*RUN_COLUMNS, "step", "value"]]
    return pd.concat([dmc, mw.assign(source="metaworld")], ignore_index=True)


def reference_bands(tasks: set[str]) -> pd.DataFrame:
    """The published seed mean and range per task and step, for the tasks given: DMC, and
    Meta-world with the paper's protocol (APV) where it exists, else the MWM protocol
    (labelled as not the paper's)."""
    frames = [reference.band(reference.dreamerv2_curves(kind)).assign(
        source=kind, label=reference.REFERENCE_LABEL[kind])
        for kind in ("dmc", "metaworld", "metaworld_mwm")]
    bands = pd.concat(frames, ignore_index=True)
    apv = set(bands.loc[bands["source"] == "metaworld", "task"])
    bands = bands[~((bands["source"] == "metaworld_mwm") & bands["task"].isin(apv))]
    return bands[bands["task"].isin(tasks)].reset_index(drop=True)


def _reference_step(steps: np.ndarray, source: str, checkpoint: int) -> int | None:
    if source == "dmc":  # the bin that holds the checkpoint, e.g. 100K -> (90K, 120K]
        step = -(-checkpoint // BIN) * BIN
        return step if step in steps else None
    near = steps[np.argmin(np.abs(steps - checkpoint))]
    return int(near) if abs(near - checkpoint) <= 10_000 else None


def verdicts(ours: pd.DataFrame, bands: pd.DataFrame,
             checkpoints: tuple[int, ...] = CHECKPOINTS) -> pd.DataFrame:
    """Per task and checkpoint reached: our seed mean against the reference seed range at
    the reference's step for that checkpoint: within, below or above."""
    rows = []
    for task, band in bands.groupby("task"):
        mine = ours[ours["task"] == task]
        if mine.empty:
            continue
        source = band["source"].iloc[0]
        for checkpoint in checkpoints:
            ref_step = _reference_step(band["step"].to_numpy(), source, checkpoint)
            if ref_step is None:
                continue
            tolerance = 0 if source == "dmc" else 5_000
            at = mine[(mine["step"] - ref_step).abs() <= tolerance]
            if at.empty:
                continue  # not reached by our runs
            per_seed = at.groupby("seed")["value"].mean()
            ref = band[band["step"] == ref_step].iloc[0]
            mean = float(per_seed.mean())
            verdict = ("below" if mean < ref["lo"] else "above" if mean > ref["hi"]
                       else "within")
            rows.append({"task": task, "source": source, "checkpoint": checkpoint,
                         "reference_step": ref_step,
                         "ours_mean": mean, "ours_min": float(per_seed.min()),
                         "ours_max": float(per_seed.max()), "seeds": len(per_seed),
                         "reference_mean": float(ref["mean"]), "reference_lo": float(ref["lo"]),
                         "reference_hi": float(ref["hi"]), "verdict": verdict})
    return pd.DataFrame(rows)


def sentence(v: pd.Series) -> str:
    """One verdict as a sentence, with the numbers it rests on."""
    return (f"{v['task']} at {v['checkpoint'] // 1000}K frames (reference step "
            f"{v['reference_step'] // 1000}K): ours {v['ours_mean']:.3g} "
            f"(seeds {v['ours_min']:.3g}-{v['ours_max']:.3g}, n={v['seeds']}) vs published "
            f"{v['reference_mean']:.3g} (seed range {v['reference_lo']:.3g}-"
            f"{v['reference_hi']:.3g}): **{v['verdict']}** the reference seed range"
            + (" (MWM reference: action repeat 2, camera corner2, not the paper's protocol)."
               if v["source"] == "metaworld_mwm" else "."))
