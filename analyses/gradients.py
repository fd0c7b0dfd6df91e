"""Which loss drives the shared representation, per method: the weighted losses' gradient
norms on the encoder and RSSM (gradnorm_obs/rew/dyn, logged every `train.probe_every`
updates) and the share of world-model updates whose global gradient norm the clip cut.

The paper's argument is that with w_o = w_r = w_d = 1 the observation term dominates; these
tables show by how much, and whether a higher w_r or HarmonyDream changes that. Runs from
before the probe existed have none of these metrics and are left out.
"""

from __future__ import annotations

import pandas as pd

TERMS = ("obs", "rew", "dyn")
# The premise, per run r = mean reward-gradient norm / mean observation-gradient norm at w_r = 1
# (docs/results.md, "Choosing the offline data by the premise", written before it was measured):
PREMISE_RATIO = 1 / 3  # the observation gradient at least 3x the reward gradient, on average
SEED_RATIO = 1 / 2  # and at least 2x in every seed


def per_run(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (label, task, seed, run_id): each metric's mean over the run's train rows
    (gradient norms and clipped shares are already means over their log interval)."""
    metrics = [f"gradnorm_{t}" for t in TERMS] + ["clipped_model", "grad_norm_model"]
    train = table[(table["split"] == "train") & table["metric"].isin(metrics)]
    if train.empty:
        return pd.DataFrame(columns=["label", "task", "seed", "run_id", *metrics])
    wide = train.pivot_table(index=["label", "task", "seed", "run_id"], columns="metric",
                             values="value", aggfunc="mean").reset_index()
    wide.columns.name = None
    return wide


def domination(table: pd.DataFrame) -> pd.DataFrame:
    """Per (label, task): mean over seeds of each gradient norm, the reward-to-observation
    ratio of the gradient norms (< 1: observation dominates), and the clipped share."""
    runs = per_run(table)
    if runs.empty:
        return runs
    if {"gradnorm_obs", "gradnorm_rew"} <= set(runs):
        runs["rew_over_obs"] = runs["gradnorm_rew"] / runs["gradnorm_obs"]
    out = runs.drop(columns=["run_id"]).groupby(["label", "task"], sort=False).agg(
        "mean", numeric_only=True)
    out["seeds"] = runs.groupby(["label", "task"], sort=False)["seed"].nunique()
    return out.drop(columns=["seed"]).reset_index()


def sentence(dom: pd.DataFrame, baseline: str = "w_r=1") -> str:
    """One line on what the table shows: the reward/observation gradient ratio at the
    baseline weighting (the paper's premise is that it is far below 1) and where the clip
    binds on most updates."""
    if dom.empty or "rew_over_obs" not in dom or baseline not in set(dom["label"]):
        return "No gradient probe in these runs."
    by = dom.groupby("label", sort=False).mean(numeric_only=True)
    ratio = by.loc[baseline, "rew_over_obs"]
    # "Dominates": the premise rule's mean threshold (analyses/premise.py has the per-seed one)
    premise = ("the observation term dominates the representation, as the paper's premise "
               "has it" if ratio <= PREMISE_RATIO else "the observation term does not "
               "dominate the representation, so the paper's premise does not hold here")
    text = (f"At {baseline} the reward loss's gradient on the shared parameters is "
            f"{ratio:.2g}x the observation loss's; {premise}.")
    clipped = by[by["clipped_model"] > 0.5] if "clipped_model" in by else by.iloc[:0]
    if len(clipped):
        shares = ", ".join(f"{k} {v:.0%}" for k, v in clipped["clipped_model"].items())
        text += (f" The gradient clip cut most world-model updates at {shares}, scaling every "
                 "loss's step down together.")
    return text
