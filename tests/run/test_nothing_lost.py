"""Nothing lost, round 3 (issue 43), one run at a time: a finished run stays finished whatever
happened to its checkpoints (class 1), every exception once a run is "running" ends failed
with a one-line reason, setup included (class 3), and a resume that cuts an evaluation's row
computes it again (class 5)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agents.config import make_config
from agents.run.status import HOLD_ENV
from tests.run.test_run_states import DMC, OFFLINE, ONLINE, status_of

ROOT = Path(__file__).resolve().parents[2]
TASK = "metaworld/lever-pull"


def train_cli(run: Path, task: str, sets: list[str], *extra: str, datasets: Path | None = None):
    cmd = [sys.executable, "-m", "agents.train", "--task", task, "--preset", "smoke", "--out",
           str(run), "--no-progress", *[a for s in sets for a in ("--set", s)], *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if datasets is not None:
        env["HD_DATASETS"] = str(datasets)
    env.pop(HOLD_ENV, None)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


@pytest.fixture(scope="module")
def offline_done(tmp_path_factory):
    """A finished offline run, trained by the command line (as the runs it is compared with:
    the same threads, so the same floats)."""
    root = tmp_path_factory.mktemp("offline")
    proc = train_cli(root / "run", TASK, OFFLINE, datasets=root / "datasets")
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture(scope="module")
def online_done(tmp_path_factory):
    from agents.train import train

    root = tmp_path_factory.mktemp("online")
    train(make_config("smoke", DMC, ONLINE), root / "run", progress_bar=False)
    return root


# --- 1. a finished run stays finished -------------------------------------------------------

def strip_checkpoints(run: Path, how: str) -> None:
    for path in (run / "ckpt.pt", run / "ckpt.pt.prev"):
        if how == "deleted":
            path.unlink()
        else:  # unreadable: both cut short
            path.write_bytes(path.read_bytes()[:100])


@pytest.mark.slow
@pytest.mark.parametrize("status", ["done", "lost"])
@pytest.mark.parametrize("how", ["deleted", "unreadable"])
def test_a_finished_run_without_checkpoints_is_never_retrained(offline_done, tmp_path, how,
                                                                 status):
    """A done run whose checkpoints are gone (or unreadable) is not trained again and its
    rows are not touched, whether status.json or only its rows say it finished."""
    shutil.copytree(offline_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    strip_checkpoints(run, how)
    if status == "lost":
        (run / "status.json").unlink()
    metrics = run / "metrics.jsonl"
    before, stamp = metrics.read_bytes(), metrics.stat().st_mtime_ns
    proc = train_cli(run, TASK, OFFLINE, datasets=tmp_path / "datasets")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "done at step 6" in lines[0], proc.stderr
    if how == "deleted":
        assert "checkpoints deleted: nothing to do" in lines[0]
    assert metrics.read_bytes() == before and metrics.stat().st_mtime_ns == stamp
    assert status_of(run)["state"] == "done" and status_of(run)["step"] == 6
    assert not (run / "ckpt.pt").exists() or how == "unreadable", "nothing was trained"


@pytest.mark.slow
def test_an_online_finished_run_without_checkpoints_is_never_retrained(online_done, tmp_path):
    shutil.copytree(online_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    strip_checkpoints(run, "deleted")
    (run / "status.json").write_text('{"state": "interr')  # damaged too: the rows say done
    before = (run / "metrics.jsonl").read_bytes()
    proc = train_cli(run, DMC, ONLINE)
    assert proc.returncode == 0, proc.stderr
    assert "checkpoints deleted: nothing to do" in proc.stderr
    assert (run / "metrics.jsonl").read_bytes() == before
    assert status_of(run)["state"] == "done" and status_of(run)["step"] == 100


@pytest.mark.slow
def test_retrain_keeps_the_old_rows_aside(offline_done, tmp_path):
    shutil.copytree(offline_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    strip_checkpoints(run, "deleted")
    before = (run / "metrics.jsonl").read_bytes()
    proc = train_cli(run, TASK, OFFLINE, "--retrain", datasets=tmp_path / "datasets")
    assert proc.returncode == 0, proc.stderr
    [aside] = (run / "aside").iterdir()
    assert (aside / "metrics.jsonl").read_bytes() == before, "the old rows are kept"
    assert json.loads((aside / "status.json").read_text())["state"] == "done"
    assert status_of(run)["state"] == "done" and (run / "ckpt.pt").exists()
    assert [r["step"] for r in eval_rows(run)] == [3, 6], "trained again from scratch"


# --- 3. every failure is recorded and explained --------------------------------------------

def boom(*args, **kwargs):
    raise RuntimeError("simulated setup failure")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["dataset", "environments"])
def test_a_setup_error_ends_failed_with_a_one_line_reason(tmp_path, monkeypatch, capsys, where):
    """An error while a run sets up (collecting its dataset, starting its environments) leaves
    status.json failed with the reason, not "running" with a dead pid; the console line claims
    no checkpoint where there is none."""
    import agents.data.experts
    import agents.envs.parallel
    from agents.train import main

    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))
    if where == "dataset":
        monkeypatch.setattr(agents.data.experts, "load_or_collect", boom)
        task, sets = TASK, OFFLINE
    else:
        monkeypatch.setattr(agents.envs.parallel, "EnvPool", boom)
        task, sets = DMC, ONLINE
    run = tmp_path / "run"
    rc = main(["--task", task, "--preset", "smoke", "--out", str(run), "--no-progress",
               *[a for s in sets for a in ("--set", s)]])
    assert rc == 1
    status = status_of(run)
    assert status["state"] == "failed", status
    assert status["error"] == "RuntimeError: simulated setup failure"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: RuntimeError: simulated setup failure"], err


def test_an_out_that_is_a_file_claims_no_checkpoint(tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    proc = train_cli(out, TASK, OFFLINE)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a directory" in lines[0], proc.stderr
    assert "checkpoint" not in proc.stderr


def test_a_failed_runs_reason_reaches_the_console(tmp_path):
    """The local executor's line for a failed run: its status's reason, else its log's last
    line, never empty."""
    from study.local import failure

    (tmp_path / "status.json").write_text(json.dumps({"state": "failed", "error": "Boom: x"}))
    assert failure(tmp_path) == "Boom: x"
    (tmp_path / "status.json").write_text(json.dumps({"state": "interrupted"}))
    (tmp_path / "log.txt").write_text("Traceback ...\nValueError: the last line\n")
    assert failure(tmp_path) == "ValueError: the last line"


# --- 5. a resume recomputes what it cut ------------------------------------------------------

def eval_rows(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == "eval"]


def torn_at_previous_checkpoint(done: Path, tmp_path: Path, step: int) -> Path:
    """A copy of a finished run as it was at its previous checkpoint (`step`), interrupted,
    with the last line of metrics.jsonl (that step's evaluation) torn."""
    shutil.copytree(done.parent, tmp_path, dirs_exist_ok=True)
    run = tmp_path / done.name
    os.replace(run / "ckpt.pt.prev", run / "ckpt.pt")
    state = torch.load(run / "ckpt.pt", weights_only=False)
    offset = state["metrics_offset"]
    data = (run / "metrics.jsonl").read_bytes()[:offset]
    assert json.loads(data.splitlines()[-1])["split"] == "eval"
    (run / "metrics.jsonl").write_bytes(data[:-10])  # the evaluation's row torn
    (run / "status.json").write_text(json.dumps({"state": "interrupted", "step": step}))
    return run


@pytest.mark.slow
def test_an_offline_resume_recomputes_the_evaluation_it_cut(offline_done, tmp_path):
    run = torn_at_previous_checkpoint(offline_done / "run", tmp_path, 3)
    proc = train_cli(run, TASK, OFFLINE, datasets=tmp_path / "datasets")
    assert proc.returncode == 0, proc.stderr
    assert "recomputed" in proc.stderr
    assert eval_rows(run) == eval_rows(offline_done / "run")


@pytest.mark.slow
def test_an_online_resume_recomputes_the_evaluation_it_cut(online_done, tmp_path):
    run = torn_at_previous_checkpoint(online_done / "run", tmp_path, 50)
    proc = train_cli(run, DMC, ONLINE)
    assert proc.returncode == 0, proc.stderr
    assert "recomputed" in proc.stderr
    assert [r["step"] for r in eval_rows(run)] == [50, 100]
    assert eval_rows(run) == eval_rows(online_done / "run"), "as the uninterrupted run's rows"


# --- 4. side files are rebuilt, not trusted ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("damage", ["cut short", "not a config"])
def test_a_damaged_config_is_rebuilt_from_the_checkpoint_on_resume(offline_done, tmp_path,
                                                                  damage):
    run = torn_at_previous_checkpoint(offline_done / "run", tmp_path, 3)
    config = (run / "config.json").read_text()
    bad = config[:40] if damage == "cut short" else '{"model": {"deter": "x"}}'
    (run / "config.json").write_text(bad)
    proc = train_cli(run, TASK, OFFLINE, datasets=tmp_path / "datasets")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "config.json was damaged; rebuilt" in proc.stderr
    assert json.loads((run / "config.json").read_text()) == json.loads(config)
    assert status_of(run)["state"] == "done"


@pytest.mark.slow
def test_a_damaged_config_without_a_checkpoint_is_refused_in_one_line(offline_done, tmp_path):
    shutil.copytree(offline_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    strip_checkpoints(run, "deleted")
    (run / "status.json").unlink()
    (run / "config.json").write_text('{"env": {"ta')
    before = (run / "metrics.jsonl").read_bytes()
    proc = train_cli(run, TASK, OFFLINE, datasets=tmp_path / "datasets")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "config.json is damaged" in lines[0] and "delete" in lines[0]
    assert (run / "metrics.jsonl").read_bytes() == before


@pytest.mark.slow
def test_a_finished_runs_command_says_so_in_one_line(offline_done, tmp_path):
    shutil.copytree(offline_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    proc = train_cli(run, TASK, OFFLINE, datasets=tmp_path / "datasets")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"{run}: done at step 6: nothing to do (--retrain trains it again, keeping the old "
        "record aside)"]
