"""What a run shows while it trains: each train row's throughput and usage columns (online and
offline), their dashboard groups, the console lines and the run summary at start, and a
study's runs named by their cells in TensorBoard (study.dashboard, read back by TensorBoard's
own loader)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.config import make_config
from agents.run.outputs import ConsoleSink, console_line, dashboard_tag
from agents.run.usage import Window
from agents.train import train
from tests.run.test_outputs import DMC, FAST, OFFLINE

ROOT = Path(__file__).resolve().parents[2]


def train_rows(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == "train"]


def test_window_splits_update_time_from_acting_time(monkeypatch):
    from agents.run import usage

    now = {"wall": 100.0, "cpu": 10.0}
    monkeypatch.setattr(usage, "clock", lambda: now["wall"])
    monkeypatch.setattr(usage, "cpu_seconds", lambda: now["cpu"])
    window = Window(steps=0, updates=0)
    with window.update():
        now["wall"] += 2.0  # two updates take 2 s
    now["wall"] += 1.0  # acting: 30 env steps in 1 s
    now["cpu"] += 4.5  # 1.5 cores busy over the 3 s
    row = window.row(steps=30, updates=2)
    assert row["fps_train"] == 1.0 and row["fps_window"] == 10.0 and row["fps_policy"] == 30.0
    assert row["usage_cpu_percent"] == 150.0
    assert 0 < row["usage_rss_gb"] <= row["usage_rss_peak_gb"]
    assert "usage_gpu_mem_gb" not in row  # no GPU, no GPU column
    now["wall"] += 5.0
    again = window.row(steps=40, updates=2)  # a new window: 10 steps, no update
    assert again["fps_window"] == 2.0 and again["fps_policy"] == 2.0 and again["fps_train"] == 0
    offline = Window(steps=None, updates=0)
    with offline.update():
        now["wall"] += 4.0
    assert set(offline.row(None, 8)) >= {"fps_train"} and "fps_window" not in offline.row(None, 8)


def test_new_columns_have_their_dashboard_groups():
    assert dashboard_tag("train", "fps") == "fps/env_steps_total"  # the old column, kept
    assert dashboard_tag("train", "fps_window") == "fps/env_steps_window"
    assert dashboard_tag("train", "fps_policy") == "fps/policy"
    assert dashboard_tag("train", "fps_train") == "fps/train"
    assert dashboard_tag("train", "usage_cpu_percent") == "usage/cpu_percent"
    assert dashboard_tag("train", "usage_gpu_mem_peak_gb") == "usage/gpu_mem_peak_gb"


def test_online_and_offline_rows_carry_throughput_and_usage(tmp_path, monkeypatch):
    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))
    online, offline = tmp_path / "online", tmp_path / "offline"
    train(make_config("smoke", DMC, FAST), online, progress_bar=False)
    train(make_config("smoke", "metaworld/lever-pull", OFFLINE), offline, progress_bar=False)
    for out, columns in ((online, ("fps", "fps_window", "fps_policy", "fps_train")),
                         (offline, ("fps_train",))):
        rows = train_rows(out)
        assert rows
        for row in rows:
            for key in (*columns, "usage_rss_gb", "usage_rss_peak_gb", "usage_cpu_percent"):
                assert isinstance(row.get(key), float | int) and row[key] >= 0, (out, key, row)
    assert all(r["fps_train"] > 0 for r in train_rows(offline))  # every window updated
    assert "fps_window" not in train_rows(offline)[0]  # offline runs step no environment
    # DMC has no success notion: neither its episode nor its eval rows log one.
    rows = [json.loads(line) for line in (online / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in rows if r["split"] in ("episode", "eval")]
    assert scored and all("return" in r and "success" not in r for r in scored)


def test_only_suites_with_a_success_flag_log_success():
    from agents.data.episodes import summary
    from agents.envs import SUITES, has_success

    assert [name for name, s in SUITES.items() if s.success_flag] == ["metaworld"]
    ep = {"reward": np.ones(11, np.float32), "success": np.r_[np.zeros(10), 1.0]}
    assert summary(ep, 2, "metaworld/lever-pull") == {"return": 11.0, "success": 1.0,
                                                      "length": 20}
    for task in ("dmc/cartpole-swingup", "atari/pong"):
        assert not has_success(task) and "success" not in summary(ep, 1, task)
    assert not has_success("crafter/reward")  # its achievements are its own columns


def test_console_lines_every_nth_train_row_and_every_eval_row(capsys):
    sink = ConsoleSink(every=2)
    train_row = {"loss_obs": 312.5, "loss_rew": 0.25, "loss_dyn": 1.5, "fps_window": 6.25,
                 "usage_rss_gb": 1.5, "grad_norm_model": 3.0}
    for step in (100, 200, 300, 400):
        sink.write(step, "train", train_row)
    sink.write(400, "eval", {"return": 12.5, "success": 0.4, "episodes": 10})
    sink.write(400, "episode", {"return": 3.0})  # episode rows never
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "train step 200: obs 312.5, rew 0.25, dyn 1.5, fps 6.25, rss GB 1.5",
        "train step 400: obs 312.5, rew 0.25, dyn 1.5, fps 6.25, rss GB 1.5",
        "eval step 400: return 12.5, success 0.4"]
    ConsoleSink(every=0).write(1, "train", train_row)  # log.console_every=0: none
    assert capsys.readouterr().err == ""
    assert console_line(5, "eval", {"reward_rmse_horizon": 0.5, "recon_mse": 0.01}) == \
        "eval step 5: reward_rmse_horizon 0.5, recon_mse 0.01"


def test_train_prints_its_summary_and_console_lines_and_quiet_prints_neither(tmp_path):
    common = ["--task", DMC, "--preset", "smoke", *[a for s in FAST for a in ("--set", s)]]
    loud = subprocess.run([sys.executable, "-m", "agents.train", *common, "--out",
                           str(tmp_path / "loud")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert loud.returncode == 0, loud.stderr
    lines = loud.stderr.replace("\r", "\n").splitlines()
    assert lines[0] == f"{DMC} | dreamerv2 | weighting fixed | seed 0 | preset smoke"
    assert f"writing to {tmp_path / 'loud'}" in lines[1]
    assert any(line.startswith("train step ") and "obs " in line for line in lines)
    assert any(line.startswith("eval step ") and "return " in line for line in lines)
    quiet = subprocess.run([sys.executable, "-m", "agents.train", *common, "--out",
                            str(tmp_path / "quiet"), "--quiet"], cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_study_dashboard_names_each_run_by_its_cell(tmp_path):
    pytest.importorskip("tensorboard", reason="study.dashboard reads TensorBoard event files")
    from tensorboard.backend.event_processing import data_ingester
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    results = tmp_path / "results"
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "HD_DATASETS": str(tmp_path / "data")}
    sets = [*OFFLINE, "log.outputs=jsonl,tensorboard"]
    made = subprocess.run([sys.executable, "-m", "study.run", "finding2", "--preset", "smoke",
                           "--seeds", "1", "--results", str(results), "--no-progress",
                           *[a for s in sets for a in ("--set", s)]], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    index = json.loads((results / "studies" / "finding2.json").read_text())["runs"]
    shown = subprocess.run([sys.executable, "-m", "study.dashboard", "finding2", "--results",
                            str(results), "--print"], cwd=ROOT, env=environ,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    spec = shown.stdout.split("--logdir_spec ", 1)[1].strip().strip("'")
    paths = data_ingester._parse_event_files_spec(spec)  # TensorBoard's own parser
    multiplexer = EventMultiplexer()
    for path, name in paths.items():
        multiplexer.AddRunsFromDirectory(path, name)
    multiplexer.Reload()
    expected = {f"{row['task']} {row['label']} s{row['seed']}/tb" for row in index}
    assert set(multiplexer.Runs()) == expected and len(expected) == len(index) > 1
    scalars = multiplexer.PluginRunToTagToContent("scalars")
    assert all("loss/obs" in scalars[name] for name in expected), scalars
    (results / index[0]["run_id"] / "tb").rename(results / "tb-moved")
    fewer = subprocess.run([sys.executable, "-m", "study.dashboard", "finding2", "--results",
                            str(results), "--print"], cwd=ROOT, env=environ,
                           capture_output=True, text=True, timeout=120)
    assert fewer.returncode == 0
    assert fewer.stderr == f"1 of {len(index)} runs have no TensorBoard events and are left out\n"
    unknown = subprocess.run([sys.executable, "-m", "study.dashboard", "nope", "--results",
                              str(results)], cwd=ROOT, env=environ, capture_output=True,
                             text=True, timeout=120)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
