"""Atari 100K scores, ours and the official ones, computed the same way: per run, the mean
evaluation return over the last 10K agent steps (40K frames at action repeat 4), then
human-normalised with the standard random / human scores."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.reference import RANDOM_HUMAN, human_normalised

WINDOW = 40_000  # frames: the last 10K agent steps
# Our weighting labels -> the reference files' method names.
METHODS = {"dreamerv3": "DreamerV3", "harmony": "DreamerV3 + HarmonyDream"}


def game(task: str) -> str:
    """'atari/ms_pacman' -> 'ms_pacman' (the reference files' names)."""
    return task.split("/", 1)[-1]


def our_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Our evaluation returns as the reference's shape: method, task (game), seed, step
    (frames), value (raw score), hns."""
    rows = table[(table["split"] == "eval") & (table["metric"] == "return")
                 & table["task"].str.startswith("atari/")]
    out = pd.DataFrame({"method": rows["label"].map(METHODS).fillna(rows["label"]),
                        "task": rows["task"].map(game), "seed": rows["seed"],
                        "step": rows["step"], "value": rows["value"]})
    out["hns"] = [human_normalised(v, g) for v, g in zip(out["value"], out["task"], strict=True)]
    return out.reset_index(drop=True)


def final(scores: pd.DataFrame, window: int = WINDOW) -> pd.DataFrame:
    """Per (method, task, seed): the mean score over evaluations in the run's last `window`
    frames (its own last evaluation included), with that last step and the hns."""
    last = scores.groupby(["method", "task", "seed"])["step"].transform("max")
    tail = scores[scores["step"] > last - window]
    out = tail.groupby(["method", "task", "seed"], as_index=False).agg(
        value=("value", "mean"), step=("step", "max"), evals=("step", "size"))
    out["hns"] = [human_normalised(v, g) for v, g in zip(out["value"], out["task"], strict=True)]
    return out


def matrices(final_scores: pd.DataFrame, games: list[str] | None = None) -> dict[str, np.ndarray]:
    """{method: [seeds x games]} human-normalised final scores, for rliable."""
    games = games or sorted(set(final_scores["task"]))
    rows = final_scores[final_scores["task"].isin(games)]
    return {m: g.pivot_table(index="seed", columns="task", values="hns")[games].to_numpy()
            for m, g in rows.groupby("method", sort=False)}


def per_game(ours: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per game we ran: random and human scores, our seed-mean final score per
    method (and the frames it rests on), and the official final scores per method."""
    rows = []
    for name in sorted(set(ours["task"])):
        rand, human = RANDOM_HUMAN[name]
        row = {"game": name, "random": rand, "human": human}
        for method, g in ours[ours["task"] == name].groupby("method"):
            row[f"ours: {method}"] = g["value"].mean()
            row[f"ours: {method} frames"] = int(g["step"].max())
        for method, g in reference[reference["task"] == name].groupby("method"):
            row[f"official: {method}"] = g["value"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def reference_band(reference_scores: pd.DataFrame, games: list[str], upto: int) -> pd.DataFrame:
    """The official curves as (task, step, mean, lo, hi, label) bands, per method, for the
    games we ran, up to `upto` frames (seed mean and seed range)."""
    r = reference_scores[reference_scores["task"].isin(games)
                         & (reference_scores["step"] <= upto)]
    band = r.groupby(["method", "task", "step"], as_index=False)["value"].agg(
        mean="mean", lo="min", hi="max")
    band["label"] = "official " + band["method"] + " (5 seeds)"
    band["task"] = "atari/" + band["task"]
    return band
