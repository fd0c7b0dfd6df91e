"""How close HarmonyDream's learned weights are to their balance.

A rectified harmonizer minimises L/sigma + c log(1 + sigma), whose optimum for a loss level L is
sigma* = (L + sqrt(L^2 + 4cL)) / (2c) (c = 1; 5/6 for DreamerV3's KL pair); the unrectified
form L/sigma + log(sigma) has sigma* = L. With s = log sigma, a run is at balance when its s_i
sit near s*_i = log sigma*(L_i), L_i its recent raw loss. Weights start at s = 0 and Adam moves
each s by at most about the learning rate per update, so reaching s* takes thousands of
updates: the gap s - s* says how far a run got.
"""

from __future__ import annotations

import math

import pandas as pd

from agents.config import WEIGHTINGS_REGISTRY
from agents.weighting import rectified_optimum

# weighting -> rectified?, for the weightings whose s_i have a known balance (the registry's)
HARMONIZERS = {name: info.optimum == "rectified" for name, info in WEIGHTINGS_REGISTRY.items()
               if info.optimum}
V3_DYN_SHARE = 5 / 6  # DreamerV3's harmonizer regulariser for the KL pair (agents/dreamerv3)


def optimum(loss: float, rectified: bool, share: float = 1.0) -> float:
    """s* = log sigma* for a loss level."""
    return math.log(rectified_optimum(loss, share) if rectified else loss)


def balance(table: pd.DataFrame, window: float = 0.1) -> pd.DataFrame:
    """Per harmonizer run and loss: its last s, the mean raw loss over the last `window` of
    its logged steps, the balance s* for that loss, and the gap s - s*."""
    train = table[(table["split"] == "train") & table["weighting"].isin(list(HARMONIZERS))]
    rows = []
    for run_id, run in train.groupby("run_id"):
        info = run.iloc[0]
        rectified = HARMONIZERS[info["weighting"]]
        for loss in ("obs", "rew", "dyn"):
            s = run[run["metric"] == f"s_{loss}"].sort_values("step")
            raw = run[run["metric"] == f"loss_{loss}"].sort_values("step")
            if s.empty or raw.empty:
                continue
            recent = raw[raw["step"] >= raw["step"].max() * (1 - window)]["value"].mean()
            share = V3_DYN_SHARE if loss == "dyn" and info["task"].startswith("atari/") else 1.0
            s_star = optimum(float(recent), rectified, share)
            rows.append({"run_id": run_id, "task": info["task"], "label": info["label"],
                         "seed": info["seed"], "loss": loss, "step": int(s["step"].max()),
                         "raw_loss": float(recent), "s": float(s["value"].iloc[-1]),
                         "s_star": s_star, "gap": float(s["value"].iloc[-1]) - s_star})
    return pd.DataFrame(rows)


def sentence(b: pd.DataFrame) -> str:
    """One line: the median s, s* and gap per loss, and what share of the way runs got."""
    if b.empty:
        return "No harmonizer runs: no learned weights to compare with their balance."
    parts = []
    for loss, g in b.groupby("loss", sort=False):
        got = (g["s"] / g["s_star"]).where(g["s_star"].abs() > 1e-6).median()
        parts.append(f"{loss}: s {g['s'].median():+.2f} vs balance {g['s_star'].median():+.2f} "
                     f"({got:.0%} of the way from 0)")
    steps = int(b["step"].max())
    return (f"Learned weights against their balance (median over {b['run_id'].nunique()} runs, "
            f"after {steps:,} steps): " + "; ".join(parts) + ".")
