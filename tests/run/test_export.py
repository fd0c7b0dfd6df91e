"""agents.export: a run made without TensorBoard gets its rows and videos there afterwards,
exactly as a run logging to it would have them; a second export is refused in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents.config import make_config
from agents.export import main
from agents.train import train
from tests.run.test_outputs import OFFLINE, assert_tensorboard_matches_jsonl


def test_export_backfills_tensorboard(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorboard", reason="agents.export --tensorboard needs tensorboard")
    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))
    out = tmp_path / "run"
    train(make_config("smoke", "metaworld/lever-pull", [*OFFLINE, "log.video_every=3"]), out,
          progress_bar=False)
    assert not (out / "tb").exists()
    videos = sorted((out / "videos").glob("open_loop_*"))
    assert videos
    assert main([str(out), "--tensorboard"]) == 0
    assert f"and {len(videos)} videos" in capsys.readouterr().out
    assert_tensorboard_matches_jsonl(out)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tb"), size_guidance={"images": 0})
    acc.Reload()
    assert [e.step for e in acc.Images("video/open_loop")] == [
        int(p.stem.split("_")[-1]) for p in videos]
    again = subprocess.run([sys.executable, "-m", "agents.export", str(out), "--tensorboard"],
                           capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already holds TensorBoard events" in again.stderr


def test_export_refuses_what_is_not_a_run(tmp_path, capsys):
    assert main([str(tmp_path), "--tensorboard"]) == 2
    assert "not a run directory" in capsys.readouterr().err
