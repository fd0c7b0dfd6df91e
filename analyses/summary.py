"""The tables every study report starts from, computed once from the tidy run table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyses import check, stats
from analyses.load import metric

SCORE_LABEL = "score (Meta-world success rate; DMC return / 1000)"
# Offline world models have no policy; their score is the held-out reward error over the
# behaviour horizon: H-step imaginations from posterior states, which is what behaviour
# learning trains on. Runs made before that metric existed fall back to the whole-episode
# open loop.
OFFLINE_SCORES = {"reward_rmse_horizon": "held-out reward RMSE over the imagination horizon",
                  "reward_rmse_open_loop": "held-out open-loop reward RMSE"}
BASELINE = "reward_rmse_baseline"  # a constant predictor: the training data's mean reward
OFFLINE_NOTE = (
    "These are **offline world models** (`train.mode=offline`): each was trained on one "
    "fixed dataset (the heading above says which) and scored on held-out episodes by its "
    "{label} (lower is better) against world-model updates, beside a constant predictor "
    "that always says the training data's mean reward (skill = 1 - RMSE / RMSE of that "
    "constant; > 0 beats it). "
    "That is the world-model mechanism behind the finding, not the finding itself: sample "
    "efficiency needs the online RL loop (`paper` preset, a cluster job).")

def eval_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Evaluation score per run and step on one [0, 1] scale, as each task's suite scores it
    (agents/envs/registry.py `Suite.score`: Meta-world success rate, DMC return / 1000,
    distracted, remastered or not), so tasks can be aggregated."""
    from agents.envs import SUITES

    suite = table["task"].str.split("/").str[0]
    parts = []
    for name, entry in SUITES.items():
        if entry.score is not None and (suite == name).any():
            rows = metric(table[suite == name], entry.score.metric)
            parts.append(rows.assign(value=rows["value"] / entry.score.scale))
    return pd.concat(parts, ignore_index=True) if parts else metric(table.iloc[:0], "success")


def score_label(scores: pd.DataFrame) -> str:
    """The score's name where every task's suite scores the same way, else SCORE_LABEL."""
    from agents.envs import SUITES

    labels = {SUITES[s].score.label for s in set(scores["task"].str.split("/").str[0])
              if s in SUITES and SUITES[s].score is not None}
    return labels.pop() if len(labels) == 1 else SCORE_LABEL


@dataclass
class Summary:
    scores: pd.DataFrame  # run columns + step + value (every evaluation)
    curves: pd.DataFrame  # method, task, step, mean, lo, hi, seeds
    final: pd.DataFrame  # per run: last evaluation
    auc: pd.DataFrame  # per run: time-averaged score
    per_task: pd.DataFrame  # method, task, mean, lo, hi (final score)
    aggregate: pd.DataFrame  # method, statistic (IQM / Mean), estimate, lo, hi (final)
    methods: list[str]
    label: str
    higher_is_better: bool = True
    xlabel: str = "env steps"
    note: str = ""  # Markdown saying what the score is, when it is not the paper's
    reps: int = 2000
    # Offline: per run, the constant predictor's RMSE on the same frames (run columns + value).
    trivial: pd.DataFrame | None = None

    def compare(self, per_run: pd.DataFrame, better: str, baseline: str, what: str) -> dict:
        """stats.compare, oriented by this score (errors: lower is better); offline, the text
        also says whether each model beats the constant predictor."""
        out = stats.compare(per_run, better, baseline, what,
                            higher_is_better=self.higher_is_better, reps=self.reps)
        if self.trivial is not None and out.get("reproduced") is not None:
            out["text"] += " " + self.against_trivial([better, baseline])
        return out

    def reference_band(self) -> pd.DataFrame | None:
        """RL runs: the published DreamerV2 curve (seed mean and range) for each task that
        has one, on this summary's scale (w_r = 1 with fixed weights is DreamerV2). Meta-world:
        eval success with the paper's protocol (APV); DMC: training-episode return / 1000 in
        30K-frame bins (our curves are eval returns: the same policy, a different average)."""
        if not self.higher_is_better:
            return None
        bands = check.reference_bands(set(self.scores["task"]))
        bands = bands[bands["source"] != "metaworld_mwm"]  # not the paper's protocol
        if bands.empty:
            return None
        scale = np.where(bands["source"] == "dmc", 1000.0, 1.0)
        return bands.assign(**{k: bands[k] / scale for k in ("mean", "lo", "hi")})

    def baseline_levels(self) -> dict[str, float] | None:
        """Offline: the constant predictor's RMSE per task (and "all tasks"), for figures."""
        if self.trivial is None:
            return None
        levels = self.trivial.groupby("task")["value"].mean().to_dict()
        return {**levels, "all tasks": float(self.trivial["value"].mean())}

    def skill(self) -> pd.DataFrame:
        """Offline: per run, final skill against the constant predictor, 1 - RMSE / RMSE_c."""
        keys = ["run_id"]
        both = self.final.merge(self.trivial[[*keys, "value"]].rename(
            columns={"value": "trivial"}), on=keys)
        return both.assign(value=1 - both["value"] / both["trivial"]).drop(columns="trivial")

    def against_trivial(self, methods: list[str]) -> str:
        """One sentence: each method's mean skill (95% CI over runs) and whether it beats the
        constant predictor (CI above 0)."""
        skill = self.skill()
        parts = []
        for m in methods:
            values = skill.loc[skill["label"] == m, "value"].to_numpy()
            if len(values) == 0:
                continue
            lo, hi = stats.bootstrap_mean_ci(values.astype(float), self.reps, 0)
            word = ("beats it" if lo > 0 else "is worse than it" if hi < 0
                    else "does not beat it (CI includes 0)")
            parts.append(f"{m} skill {values.mean():+.2f} [{lo:+.2f}, {hi:+.2f}], {word}")
        rmse = self.trivial["value"].mean()
        return (f"Against the constant predictor (the training mean reward, RMSE {rmse:.2f} on "
                f"the same frames): " + "; ".join(parts) + ".")

    def improvement(self, x: str, y: str) -> dict | None:
        """P(x better than y) on final scores, oriented by this score, with the seeds it rests
        on (`seeds`); None without both methods or with fewer than 2 paired seeds."""
        sign = 1 if self.higher_is_better else -1
        pair = stats.score_matrices(self.final.assign(value=sign * self.final["value"]),
                                    methods=[x, y])
        if len(pair) < 2 or len(stats.paired(pair, x, y)[0]) < 2:
            return None  # one seed: a probability of 0 or 1 with a zero-width "interval"
        return stats.probability_of_improvement(pair, x, y, reps=self.reps)

    def runs(self) -> pd.DataFrame:
        """Runs per method and task (how much evidence each number rests on)."""
        return self.final.pivot_table(index="task", columns="label", values="seed",
                                      aggfunc="count", fill_value=0)[self.methods]


def summarise(table: pd.DataFrame, methods: list[str] | None = None,
              reps: int = 2000) -> Summary:
    """Scores, curves, finals and aggregates: evaluation success / return for RL runs, the
    held-out reward RMSE over the imagination horizon for offline world models."""
    offline = next(((name, label) for name, label in OFFLINE_SCORES.items()
                    if not metric(table, name).empty), None)
    if offline:
        name, label = offline
        trivial = stats.final_scores(metric(table, BASELINE)) if name != "reward_rmse_open_loop" \
            else None
        scores, kind = metric(table, name), dict(
            label=label, higher_is_better=False, xlabel="world-model updates",
            note=OFFLINE_NOTE.format(label=label), trivial=trivial)
    else:
        scores = eval_scores(table)
        kind = dict(label=score_label(scores))
    methods = [m for m in (methods or list(dict.fromkeys(scores["label"])))
               if m in set(scores["label"])]
    final = stats.final_scores(scores)
    return Summary(
        scores=scores, curves=stats.curves(scores, reps=min(reps, 1000)), final=final,
        auc=stats.area_under_curve(scores), per_task=stats.per_task(final, reps=reps),
        aggregate=stats.aggregate(stats.score_matrices(final, methods=methods), reps=reps),
        methods=methods, reps=reps, **kind)


# Held-out errors (lower is better) a report compares between methods.
ERRORS = ("reward_rmse_horizon", "reward_rmse_open_loop", "reward_rmse_post", "recon_mse")
HELDOUT = {"reward_rmse_horizon": "reward RMSE over the imagination horizon",
           "reward_rmse_baseline": "constant predictor's RMSE (same frames)",
           "reward_skill_horizon": "skill vs the constant predictor (> 0 beats it)",
           "reward_rmse_open_loop": "whole-episode open-loop reward RMSE",
           "reward_rmse_post": "posterior reward RMSE",
           "recon_mse": "reconstruction MSE per pixel"}


def heldout(table: pd.DataFrame, reps: int = 2000) -> pd.DataFrame:
    """Offline runs' final held-out metrics per method and task (mean, 95% CI over seeds);
    empty for RL runs."""
    frames = [stats.per_task(stats.final_scores(m), reps=reps).assign(metric=name)
              for name in HELDOUT if not (m := metric(table, name)).empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def heldout_means(table: pd.DataFrame, methods: list[str], reps: int = 2000) -> pd.DataFrame:
    """The report's table of `heldout`: mean per (metric, task) row, one column per method."""
    held = heldout(table, reps)
    if held.empty:
        return held
    return held.pivot_table(index=["metric", "task"], columns="method", values="mean")[methods]


REWARD_ERRORS = {"reward_rmse_post": "posterior reward RMSE (every frame observed)",
                 "reward_rmse_open_loop": "open-loop reward RMSE (5 frames observed)",
                 "reward_rmse_horizon": "15-step imagination-horizon reward RMSE"}


def reward_error_verdict(table: pd.DataFrame, better: str, base: str,
                         reps: int = 2000) -> str:
    """One sentence on offline runs: which of the three held-out reward errors `better`
    lowered and which it raised against `base` (final values, 95% CI of the IQM difference
    over seeds); "" when the table has none of them."""
    parts: dict[str, list[str]] = {"lowered": [], "raised": [], "left unresolved": [],
                                   "changed, one seed so no CI,": []}
    for name, what in REWARD_ERRORS.items():
        m = metric(table, name)
        if m.empty:
            continue
        final = stats.final_scores(m)
        out = stats.compare(final, better, base, what, higher_is_better=False, reps=reps)
        if out.get("reproduced") is None and "diff_lo" not in out:
            continue
        means = final.groupby("label")["value"].mean()
        text = (f"the {what} ({means.get(base, float('nan')):.3g} -> "
                f"{means.get(better, float('nan')):.3g}; difference {out['diff_estimate']:+.3g}")
        if out["runs"] < 2:
            key, text = "changed, one seed so no CI,", text + ")"
        else:
            text += f" {stats.interval(out['diff_lo'], out['diff_hi'], out['runs'])})"
            key = ("lowered" if out["diff_lo"] > 0 else "raised" if out["diff_hi"] < 0
                   else "left unresolved")
        parts[key].append(text)
    said = [f"{verb} {' and '.join(items)}" for verb, items in parts.items() if items]
    if not said:
        return ""
    return (f"Going from {base} to {better} {'; '.join(said)} (final held-out values, mean "
            "over seeds; difference = error under " + base + " - error under " + better +
            ").")
