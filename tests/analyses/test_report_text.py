"""Report figures stay readable (no two text boxes overlap) and report sentences say only what
their numbers support, with 1, 3 and 5 seeds."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analyses import figures, premise, stats, summary

matplotlib.use("Agg")

LONG = "final held-out 15-step imagination-horizon reward RMSE (lower is better)"
WEIGHTS = {"w_r=1": 1.0, "w_r=10": 10.0, "w_r=100": 100.0, "w_r=1000": 1000.0}


def finding1_like(seeds: int, tasks: int = 1, spread: float = 0.1) -> pd.DataFrame:
    """Per-run final scores of four w_r labels, w_r = 100 lowest (best) by a clear margin."""
    rng = np.random.default_rng(seeds)
    means = {"w_r=1": 1.5, "w_r=10": 1.4, "w_r=100": 1.0, "w_r=1000": 1.1}
    rows = [{"label": m, "task": f"metaworld/t{t}", "seed": s, "run_id": f"{m}-{t}-{s}",
             "w_r": WEIGHTS[m], "value": mu + spread * rng.normal()}
            for m, mu in means.items() for t in range(tasks) for s in range(seeds)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds", [1, 3, 5])
def test_the_aggregate_and_weight_figures_have_no_overlapping_text(seeds):
    per_run = finding1_like(seeds, tasks=1 if seeds == 1 else 3)
    agg = stats.aggregate(stats.score_matrices(per_run), reps=200)
    fig = figures.intervals(agg, LONG, list(WEIGHTS))
    assert figures.text_overlaps(fig) == []
    per_task = stats.with_weight(stats.per_task(per_run, reps=200), per_run)
    fig = figures.score_vs_weight(per_task, stats.with_weight(agg, per_run), LONG)
    assert figures.text_overlaps(fig) == []
    fig = figures.premise_ratios(pd.DataFrame(
        {"label": ["expert", "random", "replay_50k"] * seeds, "r": [1.1, 0.2, 0.3] * seeds}),
        premise.PREMISE_RATIO, premise.SEED_RATIO)
    assert figures.text_overlaps(fig) == []


def test_the_overlap_check_can_fail():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(4, 2))
    a.set_xlabel(LONG)
    b.set_xlabel(LONG)  # the old aggregate figure: one long label per narrow panel
    assert figures.text_overlaps(fig)


def test_one_seed_gives_no_interval_and_no_probability():
    per_run = finding1_like(1)
    out = stats.compare(per_run, "w_r=100", "w_r=1", "error", higher_is_better=False, reps=200)
    assert out["reproduced"] is None
    assert "no interval" in out["text"] and "95% CI" not in out["text"] and "[" not in out["text"]
    table = long_table(per_run)
    s = summary.summarise(table, ["w_r=1", "w_r=100"], reps=200)
    assert s.improvement("w_r=100", "w_r=1") is None
    verdict = summary.reward_error_verdict(table, "w_r=100", "w_r=1", reps=200)
    assert "one seed so no CI" in verdict and "95% CI" not in verdict


@pytest.mark.parametrize("seeds", [3, 5])
def test_every_interval_names_its_seeds(seeds):
    per_run = finding1_like(seeds)
    out = stats.compare(per_run, "w_r=100", "w_r=1", "error", higher_is_better=False, reps=200)
    assert f"(95% CI, {seeds} seeds per task)" in out["text"]
    assert out["reproduced"] is True  # w_r = 100 is lower by 5 spreads
    verdict = summary.reward_error_verdict(long_table(per_run), "w_r=100", "w_r=1", reps=200)
    assert verdict.count("[") == verdict.count(f"{seeds} seeds per task") >= 1
    s = summary.summarise(long_table(per_run), ["w_r=1", "w_r=100"], reps=200)
    poi = s.improvement("w_r=100", "w_r=1")
    assert poi is not None and poi["seeds"] == seeds and poi["estimate"] > 0.5


def long_table(per_run: pd.DataFrame) -> pd.DataFrame:
    """A load_study-like table holding the per-run values as final held-out horizon errors."""
    rows = per_run.assign(study="finding1", weighting="fixed", w_o=1.0, w_d=1.0, state="done",
                          step=600, split="eval", metric="reward_rmse_horizon")
    return rows[["run_id", "study", "task", "label", "weighting", "w_o", "w_r", "w_d", "seed",
                 "state", "step", "split", "metric", "value"]]


def probe_table(ratios_by_seed: list[float]) -> pd.DataFrame:
    rows = []
    for seed, r in enumerate(ratios_by_seed):
        for metric, value in (("gradnorm_obs", 10.0), ("gradnorm_rew", 10.0 * r),
                              ("gradnorm_dyn", 1.0), ("loss_obs", 40.0), ("loss_rew", 0.5)):
            rows.append({"run_id": f"r{seed}", "study": "finding1", "task": "metaworld/t",
                         "label": "w_r=1", "weighting": "fixed", "w_o": 1.0, "w_r": 1.0,
                         "w_d": 1.0, "seed": seed, "state": "done", "step": 600,
                         "split": "train", "metric": metric, "value": value})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds,ratios,holds", [
    (1, [0.2], True), (3, [0.2, 0.3, 0.25], True), (3, [0.2, 0.6, 0.1], False),
    (5, [0.9, 1.1, 0.8, 1.0, 0.85], False)])
def test_the_premise_sentence_follows_the_measurement(seeds, ratios, holds):
    text, measured = premise.premise_line(probe_table(ratios), "w_r=1")
    assert measured is holds
    assert f"{np.mean(ratios):.2f}x" in text
    assert ("does not dominate" in text) is (not holds)
    assert (f"{seeds} seeds" in text) is (seeds > 1)
    said = premise.meaning(measured, True, False, seeds, "w_r=100", "w_r=1")
    if not holds:
        assert "cannot test" in said
    elif seeds == 1:
        assert "no interval" in said
    else:
        assert "as the mechanism the paper gives" in said and "not the paper's" in said


def test_the_rule_picks_by_the_premise_then_grounding():
    def row(name, r_mean, r_max, std):
        return {"candidate": name, "seeds": 3, "r_mean": r_mean, "r_max": r_max,
                "r_seeds": "", "reward_std": std,
                "premise": r_mean <= premise.PREMISE_RATIO and r_max <= premise.SEED_RATIO,
                "informative": std >= premise.MIN_REWARD_STD}

    table = pd.DataFrame([row("expert", 1.1, 1.4, 2.0), row("random", 0.05, 0.1, 0.1),
                          row("replay_50k", 0.3, 0.45, 0.4), row("replay_150k", 0.2, 0.6, 0.8)])
    assert premise.choose(table) == ("replay_50k", True)  # 150k fails the seed rule
    table.loc[2, ["premise"]] = False
    assert premise.choose(table) == ("replay_150k", False)  # none passes: smallest mean r
    assert "No candidate meets the premise" in premise.verdict(table)
    table["informative"] = False
    assert premise.choose(table) == (None, False)
