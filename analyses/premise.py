"""The paper's premise on a dataset, and the rule that picks the offline data by it.

The premise: with w_o = w_r = w_d = 1 the observation loss drives the shared representation
(encoder and RSSM) far harder than the reward loss. Per run it is measured as

    r = mean gradnorm_rew / mean gradnorm_obs

over the probes of training (never the untrained model: agents/update/dreamer.py
`_probe_due`). The rule (`choose`) was written down before any candidate was measured
(docs/results.md, "Choosing the offline data by the premise"):

1. premise holds: mean r over seeds <= PREMISE_RATIO and every seed's r <= SEED_RATIO;
2. informative rewards: the training frames' reward std >= MIN_REWARD_STD;
3. among candidates meeting both, the replay-grounded mixes come first, then the smallest
   mean r; if none meets both, the smallest mean r among those meeting 2, flagged as not
   meeting the premise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.gradients import PREMISE_RATIO, SEED_RATIO, per_run

MIN_REWARD_STD = 0.2  # below it the reward metrics have almost nothing to predict
SINGLE_BEHAVIOUR = ("expert", "random")  # not shaped like a replay: chosen only after mixes


def holds(r: pd.Series) -> bool:
    """Rule 1 on the runs' ratios r: mean <= PREMISE_RATIO and every run <= SEED_RATIO."""
    return bool(r.mean() <= PREMISE_RATIO and r.max() <= SEED_RATIO)


def ratios(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run: label, seed, gradnorm_obs/rew/dyn means, r = rew / obs, and the mean
    raw observation and reward losses (their scales)."""
    runs = per_run(table)
    if runs.empty or "gradnorm_obs" not in runs:
        return pd.DataFrame(columns=["label", "seed", "r"])
    runs["r"] = runs["gradnorm_rew"] / runs["gradnorm_obs"]
    train = table[(table["split"] == "train") & table["metric"].isin(["loss_obs", "loss_rew"])]
    losses = train.pivot_table(index="run_id", columns="metric", values="value", aggfunc="mean")
    return runs.join(losses, on="run_id")


def reward_stats(dataset: str | Path, heldout: int) -> dict[str, float]:
    """Reward statistics of a dataset's training episodes (all but the last `heldout`): the
    frames' mean and std, the share of frames with reward > 1 and of episodes that succeed."""
    files = sorted(Path(dataset).glob("ep_*.npz"))[:-heldout]
    rewards, success = [], []
    for f in files:
        with np.load(f) as ep:
            rewards.append(ep["reward"][1:])
            success.append(float(ep["success"].max()))
    r = np.concatenate(rewards)
    return {"reward_mean": float(r.mean()), "reward_std": float(r.std()),
            "reward_gt1": float((r > 1).mean()), "success_episodes": float(np.mean(success)),
            "train_episodes": len(files)}


def dataset_of(run_dir: str | Path) -> str:
    """The dataset folder a finished offline run trained on (its heldout.json)."""
    return json.loads((Path(run_dir) / "heldout.json").read_text())["dataset"]


def summary(runs: pd.DataFrame, stats: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Per candidate (label): seeds, mean r, the largest seed's r, each seed's r, loss scales,
    reward statistics (`stats[label]`) and whether each rule holds."""
    rows = []
    for label, g in runs.groupby("label", sort=False):
        row = {"candidate": label, "seeds": g["seed"].nunique(), "r_mean": g["r"].mean(),
               "r_max": g["r"].max(),
               "r_seeds": ", ".join(f"{v:.2f}" for v in g.sort_values("seed")["r"]),
               "loss_obs": g.get("loss_obs", pd.Series(dtype=float)).mean(),
               "loss_rew": g.get("loss_rew", pd.Series(dtype=float)).mean(),
               **stats.get(label, {})}
        row["premise"] = holds(g["r"])
        row["informative"] = row.get("reward_std", 0.0) >= MIN_REWARD_STD
        rows.append(row)
    return pd.DataFrame(rows)


def choose(table: pd.DataFrame) -> tuple[str | None, bool]:
    """(the chosen candidate, whether it meets the premise) by the rule above; (None, False)
    when no candidate has informative rewards."""
    ok = table[table["informative"]]
    if ok.empty:
        return None, False
    passing = ok[ok["premise"]]
    if not passing.empty:
        order = passing.assign(single=passing["candidate"].isin(SINGLE_BEHAVIOUR))
        best = order.sort_values(["single", "r_mean"]).iloc[0]
        return str(best["candidate"]), True
    return str(ok.sort_values("r_mean").iloc[0]["candidate"]), False


def verdict(table: pd.DataFrame) -> str:
    """One paragraph: the rule's choice and why, from the table's numbers."""
    name, met = choose(table)
    if name is None:
        return (f"No candidate has informative rewards (training reward std >= "
                f"{MIN_REWARD_STD}); none is chosen.")
    row = table.set_index("candidate").loc[name]
    seeds = int(row["seeds"])
    what = (f"{name}: at w_r = 1 the reward loss's gradient on the shared layers is "
            f"{row['r_mean']:.2f}x the observation loss's (mean of {seeds} seed"
            f"{'s' if seeds > 1 else ''}; seeds {row['r_seeds']}), reward std "
            f"{row.get('reward_std', float('nan')):.2f}")
    if met:
        return (f"Chosen by the premise: {what}, within the criterion (mean <= "
                f"{PREMISE_RATIO:.2f}, every seed <= {SEED_RATIO:.2f}).")
    return (f"No candidate meets the premise (mean r <= {PREMISE_RATIO:.2f} and every seed "
            f"<= {SEED_RATIO:.2f}); the closest with informative rewards is {what}. On it the "
            "observation term does not dominate as the paper's premise has it.")


def premise_line(table: pd.DataFrame, label: str) -> tuple[str, bool | None]:
    """(A sentence on the premise in these runs at `label`, whether it holds by the rule's
    thresholds; None: no probe in them)."""
    runs = ratios(table)
    runs = runs[runs["label"] == label] if not runs.empty else runs
    if runs.empty:
        return f"These runs have no gradient probe at {label}.", None
    n = runs["seed"].nunique()
    ok = holds(runs["r"])
    seeds = ", ".join(f"{v:.2f}" for v in runs.sort_values("seed")["r"])
    scale = ""
    if {"loss_obs", "loss_rew"} <= set(runs):
        scale = (f"; the raw losses average {runs['loss_obs'].mean():.3g} (observation) and "
                 f"{runs['loss_rew'].mean():.3g} (reward)")
    text = (f"At {label} the reward loss's gradient on the shared encoder and RSSM is "
            f"{runs['r'].mean():.2f}x the observation loss's (mean over the probes of training "
            f"and {n} seed{'s' if n != 1 else ''}"
            f"{'' if n == 1 else ': ' + seeds}){scale}. By the premise rule (mean <= "
            f"{PREMISE_RATIO:.2f}, every seed <= {SEED_RATIO:.2f}) the observation term "
            f"{'dominates' if ok else 'does not dominate'} the representation here.")
    return text, ok


def meaning(premise_holds: bool | None, reproduced: bool | None, opposite: bool, seeds: int,
            better: str, base: str) -> str:
    """What the measured premise and verdict mean for the paper's claim (one paragraph)."""
    if premise_holds is None:
        return "Without a premise measurement these runs cannot say whether they test it."
    if not premise_holds:
        return (f"The premise does not hold on this data, so these runs cannot test the "
                f"mechanism the paper gives for Finding 1 either way, whatever {better} vs "
                f"{base} shows.")
    if seeds < 2:
        return ("The premise holds, but with one seed there is no interval: the direction "
                "below is a single measurement, not evidence for or against the claim.")
    if reproduced:
        what = ("raising w_r made rewards imagined over the behaviour horizon better, as the "
                "mechanism the paper gives for Finding 1 predicts")
    elif opposite:
        what = ("raising w_r made rewards imagined over the behaviour horizon worse, against "
                "the mechanism the paper gives for Finding 1")
    else:
        what = ("raising w_r left rewards imagined over the behaviour horizon unresolved (the "
                "interval includes no effect)")
    return (f"The premise holds on this data, and {what}. This is an offline check of that "
            "mechanism in a small world model, not the paper's sample-efficiency claim, which "
            "needs the online loop at `paper` scale.")
