"""Analysis functions on synthetic tables with known answers, and the carried reference."""

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analyses import figures, load, probe, reference, stats


def per_run(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """{method: [seeds x tasks]} -> per-run table like stats.final_scores produces."""
    rows = []
    for m, arr in values.items():
        for seed in range(arr.shape[0]):
            for t in range(arr.shape[1]):
                rows.append({"label": m, "task": f"t{t}", "seed": seed, "value": arr[seed, t]})
    return pd.DataFrame(rows)


def test_iqm_of_a_known_array():
    arr = np.arange(1.0, 9.0).reshape(8, 1)  # IQM drops 1, 2 and 7, 8: mean(3..6) = 4.5
    table = stats.aggregate({"a": arr}, reps=200)
    iqm = table[table["statistic"] == "IQM"].iloc[0]
    assert iqm["estimate"] == pytest.approx(4.5)
    assert iqm["estimate"] == pytest.approx(sps.trim_mean(arr.ravel(), 0.25))
    assert table[table["statistic"] == "Mean"].iloc[0]["estimate"] == pytest.approx(4.5)


def test_bootstrap_ci_contains_the_truth():
    rng = np.random.default_rng(0)
    arr = rng.normal(0.5, 0.1, (30, 3))
    row = stats.aggregate({"a": arr}, reps=1000).query("statistic == 'Mean'").iloc[0]
    assert row["lo"] < 0.5 < row["hi"]
    assert row["hi"] - row["lo"] < 0.1
    lo, hi = stats.bootstrap_mean_ci(arr[:, 0], reps=2000)
    assert lo < 0.5 < hi


def test_probability_of_improvement():
    rng = np.random.default_rng(1)
    arr = rng.random((5, 3))
    same = stats.probability_of_improvement({"x": arr, "y": arr.copy()}, "x", "y", reps=200)
    assert same["estimate"] == pytest.approx(0.5)
    better = stats.probability_of_improvement({"x": arr + 10, "y": arr}, "x", "y", reps=200)
    assert better["estimate"] == pytest.approx(1.0)


def test_compare_reports_direction_from_the_numbers():
    rng = np.random.default_rng(2)
    base = rng.random((5, 3)) * 0.1
    up = per_run({"new": base + 0.5, "old": base})
    result = stats.compare(up, "new", "old", "score", reps=500)
    assert result["reproduced"] is True and result["wins"] == 3
    assert result["diff_lo"] > 0 and "reproduced" in result["text"]
    flat = stats.compare(per_run({"new": base, "old": base}), "new", "old", "score", reps=500)
    assert flat["reproduced"] is False and "did not reproduce" in flat["text"]
    down = stats.compare(per_run({"new": base, "old": base + 0.5}), "new", "old", "score",
                         reps=500)
    assert down["reproduced"] is False and "opposite" in down["text"]
    # Errors: lower is better, so the lower-error method wins.
    err = stats.compare(per_run({"new": base, "old": base + 0.5}), "new", "old", "error",
                        higher_is_better=False, reps=500)
    assert err["reproduced"] is True
    missing = stats.compare(per_run({"old": base}), "new", "old", "score")
    assert missing["reproduced"] is None and "no finished runs of new" in missing["text"]


def test_score_matrices_keep_only_shared_tasks():
    table = per_run({"a": np.ones((2, 3)), "b": np.zeros((2, 2))})
    m = stats.score_matrices(table)
    assert m["a"].shape == (2, 2) and m["b"].shape == (2, 2)


def test_final_scores_auc_and_curves():
    steps = np.arange(0, 11) * 100
    rows = [{"label": "m", "task": task, "seed": seed, "step": s,
             "value": s / 1000 + (0.1 if task == "b" else 0.0)}
            for task in ("a", "b") for seed in range(3) for s in steps]
    curves_in = pd.DataFrame(rows)
    final = stats.final_scores(curves_in)
    assert len(final) == 6 and (final["step"] == 1000).all()
    assert final[final.task == "a"]["value"].to_numpy() == pytest.approx([1.0] * 3)
    auc = stats.area_under_curve(curves_in)
    assert auc[auc.task == "a"]["value"].to_numpy() == pytest.approx([0.5] * 3)
    band = stats.curves(curves_in, reps=100)
    agg = band[band.task == "all tasks"]
    assert len(agg) == len(steps)
    assert agg.iloc[-1]["mean"] == pytest.approx(1.05)


def write_run(results, run_id, state, rows, task="metaworld/lever-pull", label="w_r=1", seed=0):
    d = results / run_id
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps({"state": state}))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"run_id": run_id, "task": task, "label": label, "weighting": "fixed", "w_o": 1.0,
            "w_r": 1.0, "w_d": 1.0, "seed": seed}


def test_load_study_skips_unfinished_and_reads_torn_files(tmp_path):
    good = [{"step": 100, "split": "eval", "success": 0.0, "return": 1.5},
            {"step": 200, "split": "eval", "success": 1.0, "return": 9.0},
            {"step": 200, "split": "train", "loss_obs": 30.0, "loss_rew": None}]
    index = [write_run(tmp_path, "aaa", "done", good),
             write_run(tmp_path, "bbb", "failed", good, seed=1),
             write_run(tmp_path, "ccc", "running", good, seed=2),
             {**write_run(tmp_path, "ddd", "done", good, seed=3)},
             {"run_id": "eee", "task": "metaworld/lever-pull", "label": "w_r=1",
              "weighting": "fixed", "w_o": 1.0, "w_r": 1.0, "w_d": 1.0, "seed": 4}]
    with open(tmp_path / "ddd" / "metrics.jsonl", "a") as f:
        f.write('{"step": 300, "split": "ev')  # a torn last line, as after a kill
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "s.json").write_text(json.dumps({"study": "s", "preset": "smoke",
                                                             "runs": index}))
    with pytest.warns(UserWarning, match="skipped 3 run") as record:
        table = load.load_study(tmp_path, "s")
    message = str(record[0].message)
    assert "bbb" in message and "failed" in message and "eee" in message
    assert set(table["run_id"]) == {"aaa", "ddd"}
    assert list(table.columns) == load.COLUMNS
    success = load.metric(table, "success")
    assert len(success) == 4 and success["value"].max() == 1.0
    assert table[(table.metric == "loss_rew")].empty  # nulls are dropped
    index = json.loads((tmp_path / "studies" / "s.json").read_text())
    assert "2 of 5 runs of the grid finished." in load.scale_note(index, table)
    with pytest.warns(UserWarning, match="skipped 2 run"):
        interim = load.load_study(tmp_path, "s", include_running=True)
    assert set(interim["run_id"]) == {"aaa", "ccc", "ddd"}
    assert ("2 of 5 runs of the grid finished; 1 more, still running or interrupted, is "
            "shown up to the last step logged") in load.scale_note(index, interim)


def test_load_study_without_finished_runs(tmp_path):
    with pytest.raises(load.NoResultsError, match="no runs of study"):
        load.load_study(tmp_path, "finding1")
    (tmp_path / "studies").mkdir()
    index = [write_run(tmp_path, "aaa", "failed", [])]
    (tmp_path / "studies" / "s.json").write_text(json.dumps({"runs": index}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(load.NoResultsError, match="no finished runs"):
            load.load_study(tmp_path, "s")


def test_online_studies_report_unfinished_runs_and_say_so(tmp_path):
    """An online study of hours (Study.interim) reports its running runs, as an interim report
    whose scale note says so; an offline study waits for finished runs."""
    from study.report import check_results

    rows = [{"step": 10000, "split": "eval", "return": 42.0}]
    for study in ("distracted", "finding1"):
        index = [write_run(tmp_path / study, "aaa", "running", rows)]
        (tmp_path / study / "studies").mkdir()
        (tmp_path / study / "studies" / f"{study}.json").write_text(
            json.dumps({"study": study, "preset": "quick", "runs": index}))
    assert load.interim("distracted") and not load.interim("finding1")
    table = load.load_study(tmp_path / "distracted", "distracted")
    assert set(table["state"]) == {"running"} and table["value"].tolist() == [42.0]
    assert check_results(tmp_path / "distracted", "distracted") is None
    index = load.study_index(tmp_path / "distracted", "distracted")
    assert "0 of 1 runs of the grid finished; 1 more" in load.scale_note(index, table)
    assert "no finished runs" in check_results(tmp_path / "finding1", "finding1")


def test_load_study_reads_run_states_through_the_one_reader(tmp_path):
    """analyses.load reads a run's state as study.status does (study.state): a run that says
    "running" but whose process on this host is gone is interrupted, not running."""
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    rows = [{"step": 10, "split": "eval", "return": 1.0}]
    index = [write_run(tmp_path, "aaa", "running", rows)]
    (tmp_path / "aaa" / "status.json").write_text(json.dumps(
        {"state": "running", "step": 10, "pid": int(gone.stdout), "host": socket.gethostname()}))
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "s.json").write_text(json.dumps({"study": "s", "runs": index}))
    table = load.load_study(tmp_path, "s", include_running=True)
    assert set(table["state"]) == {"interrupted"}
    assert load.run_dirs(tmp_path, "s", done_only=False)["state"].tolist() == ["interrupted"]


def synthetic_episodes(n=20, T=40, f=16, s=5, seed=0, linear=True):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(f, s))
    feats, states = [], []
    for _ in range(n):
        x = rng.normal(size=(T, f))
        feats.append(x)
        states.append(x @ w if linear else rng.normal(size=(T, s)))
    return feats, states


def test_probe_reads_a_linear_state_exactly():
    feats, states = synthetic_episodes(linear=True)
    table = probe.fit_probe(feats, states, {"all": list(range(5)), "first": [0]}, alpha=1e-3)
    assert (table["relative_error"] < 0.01).all()
    assert table.iloc[0]["train_episodes"] == 18 and table.iloc[0]["val_episodes"] == 2


def test_probe_on_independent_state_is_no_better_than_the_mean():
    feats, states = synthetic_episodes(linear=False)
    table = probe.fit_probe(feats, states, {"all": list(range(5))})
    assert table.iloc[0]["relative_error"] == pytest.approx(1.0, abs=0.15)
    mlp = probe.fit_probe(feats, states, {"all": list(range(5))}, model="mlp")
    assert mlp.iloc[0]["relative_error"] > 0.8


def test_probe_skips_constant_groups_and_splits_by_episode():
    feats, states = synthetic_episodes()
    states = [np.concatenate([s, np.zeros((len(s), 1))], 1) for s in states]
    table = probe.fit_probe(feats, states, {"x": [0], "absent": [5]})
    assert list(table["group"]) == ["x"]
    train, val = probe.split_episodes(10)
    assert len(val) == 1 and not set(train) & set(val) and len(train) + len(val) == 10
    with pytest.raises(ValueError, match="two episodes"):
        probe.split_episodes(1)


def test_atari_reference_matches_the_published_aggregates():
    m = reference.final_hns_matrices(reference.atari_scores())
    assert m["DreamerV3"].shape == (5, 26)
    # Published: mean HNS 107.4% and 136.4%; median 41.6% and 67.1%; IQM 47.2% and 60.7%.
    assert m["DreamerV3"].mean() == pytest.approx(1.074, abs=0.001)
    assert m["DreamerV3 + HarmonyDream"].mean() == pytest.approx(1.364, abs=0.001)
    assert np.median(m["DreamerV3 + HarmonyDream"].mean(0)) == pytest.approx(0.671, abs=0.001)
    iqm = stats.aggregate(m, reps=200).query("statistic == 'IQM'").set_index("method")
    assert iqm.loc["DreamerV3", "estimate"] == pytest.approx(0.472, abs=0.001)
    assert iqm.loc["DreamerV3 + HarmonyDream", "estimate"] == pytest.approx(0.607, abs=0.001)


def long_table(metric: str, values: dict[str, np.ndarray], steps=(100, 200)) -> pd.DataFrame:
    """{label: [seeds]} final values -> a tidy eval table (k-fold the final value k evals
    before the end)."""
    rows = []
    for label, seeds in values.items():
        for seed, v in enumerate(seeds):
            for i, step in enumerate(steps):
                rows.append({"run_id": f"{label}-{seed}", "study": "s", "task": "metaworld/x",
                             "label": label, "weighting": "fixed", "w_o": 1.0, "w_r": 1.0,
                             "w_d": 1.0, "seed": seed, "state": "done", "step": step,
                             "split": "eval", "metric": metric,
                             "value": v * (len(steps) - i)})
    return pd.DataFrame(rows)[load.COLUMNS]


def test_summary_scores_offline_runs_by_heldout_error_lower_is_better():
    from analyses import summary

    errors = {"low": np.array([0.5, 0.6, 0.55, 0.52]), "high": np.array([2.0, 2.1, 1.9, 2.2])}
    s = summary.summarise(long_table("reward_rmse_open_loop", errors), reps=300)
    assert not s.higher_is_better and s.xlabel == "world-model updates" and s.note
    assert s.compare(s.final, "low", "high", "error")["reproduced"] is True
    assert s.compare(s.final, "high", "low", "error")["reproduced"] is False
    assert s.improvement("low", "high")["estimate"] == pytest.approx(1.0)
    held = summary.heldout(long_table("reward_rmse_open_loop", errors), reps=300)
    assert set(held["metric"]) == {"reward_rmse_open_loop"}
    wide = summary.heldout_means(long_table("reward_rmse_open_loop", errors), ["low", "high"],
                                 reps=300)
    assert list(wide.columns) == ["low", "high"]
    assert wide.loc[("reward_rmse_open_loop", "metaworld/x"), "low"] == pytest.approx(
        errors["low"].mean())

    online = summary.summarise(long_table("success", {"a": np.ones(3), "b": np.zeros(3)}), reps=300)
    assert online.higher_is_better and online.note == "" and online.label == "success rate"
    assert online.compare(online.final, "a", "b", "success")["reproduced"] is True
    assert summary.heldout(long_table("success", {"a": np.ones(2)})).empty
    assert summary.heldout_means(long_table("success", {"a": np.ones(2)}), ["a"]).empty


def test_offline_verdict_says_whether_the_winner_beats_the_constant_predictor():
    from analyses import summary

    errors = {"low": np.array([1.5, 1.6, 1.55, 1.52]), "high": np.array([3.0, 3.1, 2.9, 3.2])}
    table = pd.concat([long_table("reward_rmse_horizon", errors),
                       long_table("reward_rmse_open_loop", {k: v + 1 for k, v in errors.items()}),
                       long_table("reward_rmse_baseline", {k: np.full(4, 1.0)
                                                           for k in errors})])
    s = summary.summarise(table, reps=300)
    assert s.label.startswith("held-out reward RMSE over the imagination horizon")
    assert s.final.query("label == 'low'")["value"].mean() == pytest.approx(1.5425)
    verdict = s.compare(s.final, "low", "high", "error")
    assert verdict["reproduced"] is True
    # The better model is still worse than saying the mean reward: the sentence says so.
    assert "low skill -0.54" in verdict["text"] and "is worse than it" in verdict["text"]
    skill = s.skill().groupby("label")["value"].mean()
    assert skill["low"] == pytest.approx(1 - 1.5425) and skill["high"] < skill["low"]
    good = summary.summarise(pd.concat([long_table("reward_rmse_horizon", errors),
                                        long_table("reward_rmse_baseline",
                                                   {k: np.full(4, 2.0) for k in errors})]),
                             reps=300)
    assert "low skill +0.23" in good.compare(good.final, "low", "high", "e")["text"]
    assert "beats it." in good.against_trivial(["low"])


def test_dreamerv2_reference_curves_are_tidy_and_match_the_published_numbers():
    dmc = reference.dreamerv2_curves("dmc")
    assert {"dmc/cartpole-swingup", "dmc/walker-walk", "dmc/cheetah-run",
            "dmc/reacher-easy"} <= set(dmc["task"])
    assert list(dmc.columns) == ["source", "task", "seed", "step", "metric", "value"]
    # The 90-120K-frame bin: 541 (seeds 399-725) and 475 (430-551), 5 seeds each.
    b = reference.band(dmc).set_index(["task", "step"])
    cart, walker = b.loc[("dmc/cartpole-swingup", 120_000)], b.loc[("dmc/walker-walk", 120_000)]
    assert (round(cart["mean"]), round(cart["lo"]), round(cart["hi"]), cart["seeds"]) == (
        541, 399, 725, 5)
    assert (round(walker["mean"]), round(walker["lo"]), round(walker["hi"])) == (475, 430, 551)
    mw = reference.dreamerv2_curves("metaworld")
    assert {"metaworld/lever-pull", "metaworld/drawer-open"} <= set(mw["task"])
    assert mw.groupby("task")["seed"].nunique().eq(8).all()
    assert mw["step"].max() == 245_000 and mw["value"].between(0, 1).all()
    assert "corner2" in reference.reference_protocol("metaworld_mwm")["protocol"]
    assert "@" in reference.reference_protocol("dmc")["source"]
    # Our episodes binned the same way: right bin edges, mean per run.
    eps = pd.DataFrame({"run_id": "a", "step": [1000, 30_000, 30_001, 59_000],
                        "value": [1.0, 3.0, 5.0, 7.0]})
    assert reference.bin_returns(eps).to_dict("list") == {
        "run_id": ["a", "a"], "step": [30_000, 60_000], "value": [2.0, 6.0]}
    with pytest.raises(ValueError, match="unknown reference"):
        reference.dreamerv2_curves("atari")


def test_online_summaries_carry_the_dreamerv2_reference_band():
    from analyses import summary

    table = long_table("success", {"w_r=1": np.full(3, 0.5)}, steps=(5000, 15000))
    table["task"] = "metaworld/lever-pull"
    ref = summary.summarise(table, reps=200).reference_band()
    assert set(ref["task"]) == {"metaworld/lever-pull"} and ref["step"].max() == 245_000
    assert (ref["lo"] <= ref["mean"]).all() and (ref["mean"] <= ref["hi"]).all()
    assert "APV" in ref["label"].iloc[0]
    fig = figures.learning_curves(summary.summarise(table, reps=200).curves, "success",
                                  reference=ref)
    assert any("reference" in t.get_text() for t in fig.legends[0].get_texts())
    offline = summary.summarise(long_table("reward_rmse_horizon", {"a": np.ones(2)}), reps=200)
    assert offline.reference_band() is None


def test_dreamer_check_computes_our_curves_as_the_references_do_and_gives_verdicts():
    from analyses import check

    rows = []
    for seed, level in enumerate((500.0, 560.0)):  # within cartpole's 399-725 at 90-120K
        for step in range(10_000, 130_001, 10_000):
            rows.append({"task": "dmc/cartpole-swingup", "seed": seed, "step": step,
                         "split": "episode", "metric": "return",
                         "value": level if step > 90_000 else 0.0})
        for step in range(5_000, 110_000, 10_000):  # lever-pull eval success, APV's steps
            rows.append({"task": "metaworld/lever-pull", "seed": seed, "step": step,
                         "split": "eval", "metric": "success", "value": 1.0})
    table = pd.DataFrame(rows).assign(run_id=lambda d: d["task"] + d["seed"].astype(str),
                                      study="dreamer_check", label="dreamerv2",
                                      weighting="fixed", w_o=1.0, w_r=1.0, w_d=1.0,
                                      state="done")[load.COLUMNS]
    ours = check.our_curves(table)
    cart = ours[ours["task"] == "dmc/cartpole-swingup"]
    assert sorted(set(cart["step"])) == [30_000, 60_000, 90_000, 120_000, 150_000]
    # The 120K bin holds the episodes ending in (90K, 120K]: 100K, 110K, 120K.
    assert cart.query("step == 120000 and seed == 0")["value"].item() == 500.0
    bands = check.reference_bands(set(ours["task"]))
    assert set(bands["source"]) == {"dmc", "metaworld"}
    v = check.verdicts(ours, bands).set_index(["task", "checkpoint"])
    assert v.loc[("dmc/cartpole-swingup", 100_000), "verdict"] == "within"
    assert v.loc[("dmc/cartpole-swingup", 100_000), "reference_step"] == 120_000
    # Lever Pull's published success at 95K/105K is near 0: always succeeding is above it.
    assert v.loc[("metaworld/lever-pull", 100_000), "verdict"] == "above"
    assert ("dmc/cartpole-swingup", 250_000) not in v.index, "not reached: no verdict"
    assert "**within** the reference seed range" in check.sentence(v.reset_index().iloc[0])
    mwm = check.reference_bands({"metaworld/handle-pull-side"})
    assert set(mwm["source"]) == {"metaworld_mwm"}, "no APV curve: the MWM one, labelled"


def test_balance_measures_how_far_the_harmonizers_got():
    from agents.weighting import rectified_optimum
    from analyses import balance

    rows = []
    for step in (100, 200):
        for loss, level, s in (("obs", 400.0, math.log(rectified_optimum(400.0))),
                               ("rew", 2.0, 0.0)):
            base = {"run_id": "r", "task": "metaworld/lever-pull", "label": "harmony",
                    "weighting": "harmony", "seed": 0, "split": "train", "step": step}
            rows += [{**base, "metric": f"loss_{loss}", "value": level},
                     {**base, "metric": f"s_{loss}", "value": s}]
    b = balance.balance(pd.DataFrame(rows)).set_index("loss")
    assert b.loc["obs", "gap"] == pytest.approx(0.0, abs=1e-9)  # at its balance
    assert b.loc["rew", "s_star"] == pytest.approx(math.log(rectified_optimum(2.0)))
    assert b.loc["rew", "gap"] < 0  # still at its initial s = 0
    assert "obs: s +5.99 vs balance +5.99 (100% of the way" in balance.sentence(b.reset_index())
    # DreamerV3's KL pair counts its regulariser 5/6: a larger sigma* for the same loss.
    assert rectified_optimum(2.0, 5 / 6) > rectified_optimum(2.0)


@pytest.mark.parametrize("tasks", [1, 3])
def test_learning_curve_legend_overlaps_no_panel(tasks):
    """The legend sits outside every panel and its labels, at one task as at three (a
    one-panel figure once had the legend over its y label)."""
    from analyses import summary

    frames = []
    for k in range(tasks):
        t = long_table("reward_rmse_horizon", {"w_r=1": np.ones(3), "w_r=100": np.ones(3)})
        t["task"] = f"metaworld/task-{k}"
        frames.append(t)
    s = summary.summarise(pd.concat(frames), reps=100)
    fig = figures.learning_curves(s.curves, "horizon reward RMSE, a long axis label",
                                  s.methods, baseline={c: 1.0 for c in set(s.curves["task"])})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        if ax.get_visible() and ax.axison:
            assert not legend.overlaps(ax.get_tightbbox(renderer)), ax.get_title()
    assert 0 <= legend.x0 and legend.x1 <= fig.bbox.width  # inside the canvas


def test_domination_table_reads_the_probe_metrics():
    from analyses import gradients

    rows = []
    for label, rew in (("w_r=1", 1.0), ("w_r=100", 100.0)):
        for seed in (0, 1):
            for step, clipped in ((100, 0.0), (200, 1.0)):
                for metric, value in (("gradnorm_obs", 50.0), ("gradnorm_rew", rew),
                                      ("gradnorm_dyn", 5.0), ("clipped_model", clipped),
                                      ("loss_obs", 9.0)):
                    rows.append({"label": label, "task": "metaworld/lever-pull", "seed": seed,
                                 "run_id": f"{label}-{seed}", "step": step, "split": "train",
                                 "metric": metric, "value": value})
    table = gradients.domination(pd.DataFrame(rows)).set_index("label")
    assert table.loc["w_r=1", "rew_over_obs"] == pytest.approx(0.02)
    assert table.loc["w_r=100", "rew_over_obs"] == pytest.approx(2.0)
    assert table.loc["w_r=1", "clipped_model"] == 0.5 and table.loc["w_r=1", "seeds"] == 2
    line = gradients.sentence(gradients.domination(pd.DataFrame(rows)))
    assert "0.02x the observation" in line and "dominates" in line and "w_r=1 50%" not in line
    empty = pd.DataFrame(rows).query("metric == 'loss_obs'")
    assert gradients.domination(empty).empty  # runs from before the probe


def test_reward_error_verdict_says_which_errors_went_which_way():
    """Offline finding1's opening sentence: computed per error from the runs' final values."""
    from analyses.summary import reward_error_verdict

    rows = []
    for label, w_r, post, horizon in (("w_r=1", 1.0, 1.0, 1.4), ("w_r=100", 100.0, 0.5, 1.8)):
        for seed in range(4):
            run = {"run_id": f"{label}-{seed}", "study": "finding1", "task": "metaworld/lever-pull",
                   "label": label, "weighting": "fixed", "w_o": 1.0, "w_r": w_r, "w_d": 1.0,
                   "seed": seed, "state": "done", "step": 600, "split": "eval"}
            jitter = 0.01 * seed
            rows += [{**run, "metric": "reward_rmse_post", "value": post + jitter},
                     {**run, "metric": "reward_rmse_horizon", "value": horizon + jitter},
                     {**run, "metric": "reward_rmse_open_loop", "value": 2.0 + 0.5 * (seed % 2)
                      * (1 if label == "w_r=1" else -1)}]
    text = reward_error_verdict(pd.DataFrame(rows), "w_r=100", "w_r=1", reps=200)
    assert text.startswith("Going from w_r=1 to w_r=100 lowered the posterior reward RMSE")
    assert "raised the 15-step imagination-horizon reward RMSE (1.42 -> 1.81" in text
    assert "left unresolved the open-loop reward RMSE" in text
    assert reward_error_verdict(pd.DataFrame(rows[:0], columns=list(rows[0])), "w_r=100",
                                "w_r=1") == ""
    one = reward_error_verdict(pd.DataFrame([r for r in rows if r["seed"] == 0]), "w_r=100",
                               "w_r=1", reps=200)
    assert "changed, one seed so no CI," in one and "[" not in one  # no interval claimed


def test_dmc_suites_share_one_score_scale_and_reports_name_stand_ins():
    from analyses.load import RUN_COLUMNS
    from analyses.summary import eval_scores, score_label
    from analyses.tasks import task_notes

    rows = [{**dict.fromkeys(RUN_COLUMNS, ""), "run_id": t, "task": t, "step": 10,
             "metric": "return", "split": "eval", "value": 500.0}
            for t in ("dmc/walker-walk", "dmc_remastered/walker-walk",
                      "dmc_distracted/walker-walk")]
    scores = eval_scores(pd.DataFrame(rows))
    assert sorted(scores["task"]) == sorted(r["task"] for r in rows)
    assert (scores["value"] == 0.5).all() and score_label(scores) == "return / 1000"
    notes = task_notes(["dmc/walker-walk", "dmc_remastered/walker-walk",
                        "dmc_remastered/walker-walk?textures=/data/dmcr"])
    assert len(notes) == 2 and "colours standing in" in notes[0] and "/data/dmcr" in notes[1]
