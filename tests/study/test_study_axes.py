"""A study's axes belong to the study (issue 25, part 2): `--set` cannot change what a study
varies, cells that resolve to one run are refused before launch, and reports never compare a
run with itself or count a run twice."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from agents.config import ConfigError
from analyses import load, stats
from study import specs
from study.grid import expand

ROOT = Path(__file__).resolve().parents[2]

AXES = [("finding2", "weighting.w_r=5", "weighting"),  # the case: two cells, one run
        ("finding1", "weighting.name=harmony", "weighting"),
        ("harmony", "weighting.w_o=2", "weighting"),
        ("finding2", "train.seed=0", "seed"),  # the case: 6 "runs" out of 2
        ("finding1", "env.task=metaworld/hammer", "task"),
        ("harmony", "model.agent=dreamerv3", "agent")]


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "study.run", *args, "--no-progress"],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("study,override,axis", AXES)
def test_set_on_a_study_axis_is_refused(study, override, axis):
    with pytest.raises(ConfigError, match=axis):
        expand(study, "paper", overrides=[override])


@pytest.mark.parametrize("study,override,axis", AXES[:1] + AXES[3:4])
def test_cli_set_on_a_study_axis_is_one_line_exit_2_launching_nothing(tmp_path, study,
                                                                      override, axis):
    # --dry-run: the code before the fix accepted these and would otherwise have launched
    proc = cli(study, "--preset", "smoke", "--seeds", "3", "--set", override, "--dry-run",
               "--results", "results", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and axis in lines[0], proc.stderr
    assert override.split("=")[0] in lines[0]
    assert not list(tmp_path.iterdir())


def test_cells_that_resolve_to_one_run_are_refused(monkeypatch):
    with pytest.raises(ConfigError, match="same run"):
        expand("finding1", "smoke", tasks=["metaworld/lever-pull", "metaworld/lever-pull"])
    # Two labels of one weighting: refused whatever made them collide.
    twin = specs.Study("twin", "two labels, one weighting", ("metaworld/lever-pull",),
                       (specs.fixed(1), ("also w_r=1", "fixed", {"w_o": 1.0, "w_r": 1.0,
                                                                 "w_d": 1.0})),
                       overrides=specs.OFFLINE)
    monkeypatch.setitem(specs.STUDIES, "twin", twin)
    with pytest.raises(ConfigError, match=r"w_r=1.*also w_r=1.*same run"):
        expand("twin", "smoke")


def test_cli_cells_that_resolve_to_one_run_launch_nothing(tmp_path):
    proc = cli("finding2", "--preset", "smoke", "--tasks", "metaworld/lever-pull",
               "metaworld/lever-pull", "--dry-run", "--results", "results", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1 and "same run" in proc.stderr, proc.stderr
    assert not list(tmp_path.iterdir())


def per_run(rows):
    return pd.DataFrame([{"run_id": r, "task": t, "label": lab, "seed": s, "value": v}
                         for r, t, lab, s, v in rows])


def test_compare_refuses_a_run_compared_with_itself():
    rows = [(f"r{s}", "metaworld/lever-pull", lab, s, 1.0 + s)
            for lab in ("w_r=1", "w_r=100") for s in range(3)]
    out = stats.compare(per_run(rows), "w_r=100", "w_r=1", "success")
    assert out["reproduced"] is None and "same run" in out["text"], out["text"]
    assert "IQM difference" not in out["text"]


def write_run(results, run_id, rows):
    d = results / run_id
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps({"state": "done"}))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def index_row(run_id, label, seed=0, w_r=1.0):
    return {"run_id": run_id, "task": "metaworld/lever-pull", "label": label,
            "weighting": "fixed", "w_o": 1.0, "w_r": w_r, "w_d": 1.0, "seed": seed}


def write_index(results, study, rows, preset="smoke"):
    (results / "studies").mkdir(parents=True, exist_ok=True)
    (results / "studies" / f"{study}.json").write_text(
        json.dumps({"study": study, "preset": preset, "runs": rows}))


METRICS = [{"step": 10, "split": "eval", "reward_rmse_horizon": 1.0},
           {"step": 20, "split": "eval", "reward_rmse_horizon": 0.5}]


def test_report_refuses_an_index_whose_cells_are_one_run(tmp_path):
    """An index written before the fix by `--set weighting.w_r=5`: both labels, one run."""
    write_run(tmp_path, "aaa", METRICS)
    write_index(tmp_path, "finding2", [index_row("aaa", "w_r=1"), index_row("aaa", "w_r=100")])
    with pytest.raises(load.NoResultsError, match="same run"):
        load.load_study(tmp_path, "finding2")


def test_reports_count_distinct_runs(tmp_path):
    """`--set train.seed=0 --seeds 3` before the fix: 3 index rows per cell, 1 run each."""
    write_run(tmp_path, "aaa", METRICS)
    write_run(tmp_path, "bbb", METRICS)
    rows = [index_row("aaa", "w_r=1"), index_row("bbb", "w_r=100", w_r=100.0)] * 3
    write_index(tmp_path, "finding2", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load.load_study(tmp_path, "finding2")
    assert not table.duplicated().any()
    assert len(load.metric(table, "reward_rmse_horizon")) == 4
    index = load.study_index(tmp_path, "finding2")
    assert "2 of 2 runs" in load.scale_note(index, table)
    assert len(load.run_dirs(tmp_path, "finding2")) == 2


@pytest.mark.parametrize("study,offline", [("finding1", True), ("atari100k", False)])
def test_run_says_first_whether_its_runs_are_offline_diagnostics(tmp_path, study, offline):
    proc = cli(study, "--preset", "quick", "--dry-run", "--results", "results", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, header, row = proc.stdout.splitlines()[:3] if offline else ["", *proc.stdout
                                                                      .splitlines()[:2]]
    if offline:
        assert "offline world-model diagnostics" in first and "not reinforcement" in first
    assert header.split()[-2:] == ["mode", "status"]
    assert row.split()[-2] == ("offline" if offline else "online")
