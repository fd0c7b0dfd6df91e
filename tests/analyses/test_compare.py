"""analyses.compare on run folders: the fields that differ label the runs, a table of final
and best values, a figure; runs of different scales, and a metric none has, refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from agents.config import make_config
from agents.train import train
from analyses.compare import compare, main

OFFLINE = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
           "offline.updates=6", "offline.eval_every=3", "train.threads=1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    mp = pytest.MonkeyPatch()
    mp.setenv("HD_DATASETS", str(root / "datasets"))
    out = []
    for weighting in ("fixed", "harmony"):
        run = root / weighting
        train(make_config("smoke", "metaworld/lever-pull", [*OFFLINE,
                                                            f"weighting.name={weighting}"]),
              run, progress_bar=False)
        out.append(run)
    mp.undo()
    return out


def test_compare_two_runs(runs, tmp_path, capsys):
    curves, table, diff = compare([str(r) for r in runs], "eval/reward_rmse_horizon")
    assert list(diff) == ["weighting.name"] and diff["weighting.name"] == ["fixed", "harmony"]
    assert list(table.index) == ["weighting.name=fixed", "weighting.name=harmony"]
    for label, run in zip(table.index, runs, strict=True):
        rows = [json.loads(line) for line in open(run / "metrics.jsonl")]
        values = [r["reward_rmse_horizon"] for r in rows if r["split"] == "eval"]
        assert table.loc[label, "final"] == pytest.approx(values[-1])
        assert table.loc[label, "best"] == pytest.approx(min(values))  # an error: lowest
    assert set(curves.run) == set(table.index)
    fig, csv = tmp_path / "c.png", tmp_path / "c.csv"
    assert main([*map(str, runs), "--metric", "eval/reward_rmse_horizon", "--out", str(fig),
                 "--csv", str(csv)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("differ: weighting.name (fixed, harmony)")
    assert fig.stat().st_size > 1000 and len(pd.read_csv(csv)) == 2


def test_compare_refuses_other_scales_and_unknown_metrics(runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs[0], other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "preset": "quick"}))
    cmd = [sys.executable, "-m", "analyses.compare", str(runs[1]), str(other),
           "--metric", "eval/reward_rmse_horizon"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "preset" in res.stderr
    res = subprocess.run([*cmd[:4], str(runs[0]), "--metric", "eval/nope"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "no run has eval/nope" in res.stderr
