"""A run's side files are rebuilt, not trusted (issue 43, class 4): a damaged provenance.json
or status.json never blocks a run nor gives a traceback; what is damaged is said in one line.
(Damaged config.json: tests/run/test_nothing_lost.py; the study index:
tests/study/test_study_index.py.)"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agents.run.status import HOLD_ENV

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
           "offline.updates=6", "offline.eval_every=3"]
STUDY = ["finding2", "--preset", "smoke", "--seeds", "1", "--workers", "2",
         *[a for s in OFFLINE for a in ("--set", s)]]


def study(module: str, *args: str, results: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HD_DATASETS": str(results / "datasets")}
    env.pop(HOLD_ENV, None)
    return subprocess.run([sys.executable, "-m", module, *args, "--results", str(results),
                           *(["--no-progress"] if module == "study.run" else [])],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)


def runs(results: Path) -> list[str]:
    index = json.loads((results / "studies" / "finding2.json").read_text())
    return [row["run_id"] for row in index["runs"]]


@pytest.mark.slow
def test_a_damaged_provenance_never_blocks_the_run(tmp_path):
    assert study("study.run", *STUDY, "--index-only", results=tmp_path).returncode == 0
    ids = runs(tmp_path)
    for rid in ids:
        (tmp_path / rid).mkdir()
        (tmp_path / rid / "provenance.json").write_text('{"run_id": "ab')
        (tmp_path / rid / "status.json").write_text(json.dumps({"state": "interrupted"}))
    proc = study("study.run", *STUDY, results=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 finished, 0 failed" in proc.stdout
    for rid in ids:
        assert json.loads((tmp_path / rid / "status.json").read_text())["state"] == "done"
        provenance = json.loads((tmp_path / rid / "provenance.json").read_text())
        assert provenance["run_id"] == rid and provenance["git_commits"]
        log = (tmp_path / rid / "log.txt").read_text()
        assert "provenance.json was damaged; rebuilt" in log and "Traceback" not in log


DAMAGED_STATUS = {
    "not an object": "[1]",
    "error not text": '{"state": "failed", "error": 3}',
    "pid not a number": json.dumps({"state": "running", "pid": "x",
                                    "host": socket.gethostname()}),
    "unknown state": '{"state": "sideways", "step": "ten"}',
}


@pytest.mark.parametrize("damage", list(DAMAGED_STATUS))
def test_a_damaged_status_is_one_line_in_study_status(tmp_path, damage):
    assert study("study.run", *STUDY, "--index-only", results=tmp_path).returncode == 0
    rid = runs(tmp_path)[0]
    (tmp_path / rid).mkdir()
    (tmp_path / rid / "status.json").write_text(DAMAGED_STATUS[damage])
    proc = study("study.status", "finding2", results=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(rid))
    assert " pending " in line and "status.json" in line, line
