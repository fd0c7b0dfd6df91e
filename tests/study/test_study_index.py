"""The study index is kept, not overwritten (issue 25, part 3), and unusable paths or a damaged
index are one line on stderr (2: bad input, 1: an I/O failure), before any work."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from analyses import load
from study.grid import expand
from study.results import StudyIndexError, read_study_index, write_study_index

ROOT = Path(__file__).resolve().parents[2]
METRICS = [{"step": 10, "split": "eval", "reward_rmse_horizon": 1.0},
           {"step": 20, "split": "eval", "reward_rmse_horizon": 0.5}]


def cli(module, *args, cwd):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def one_line(proc, code):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def finish(results, runs, state="done"):
    for run in runs:
        d = results / run.id
        d.mkdir(parents=True, exist_ok=True)
        (d / "status.json").write_text(json.dumps({"state": state, "step": 20}))
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in METRICS))


def test_a_run_that_fails_at_once_does_not_hide_finished_runs(tmp_path):
    """The issue's case: a finished study, then the same study with a value that passes
    validation (the issue's was a camera name, checked before launch now) and whose runs fail
    at once. Reports and status still see the finished runs."""
    good = expand("finding2", "smoke", seeds=2)
    write_study_index(tmp_path, "finding2", good, "smoke")
    finish(tmp_path, good)
    typo = expand("finding2", "smoke", seeds=2, overrides=["model.deter=40"])
    write_study_index(tmp_path, "finding2", typo, "smoke", overrides=["model.deter=40"])
    finish(tmp_path, typo, "failed")
    index = json.loads((tmp_path / "studies" / "finding2.json").read_text())
    assert {r["run_id"] for r in index["runs"]} == {r.id for r in good + typo}
    assert [i["set"] for i in index["invocations"]] == [[], ["model.deter=40"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load.load_study(tmp_path, "finding2")
    assert set(table["run_id"]) == {r.id for r in good}
    note = load.scale_note(load.study_index(tmp_path, "finding2"), table)
    assert "4 of 4 runs" in note
    # Offline diagnostics say so first, as a heading (these runs are offline at smoke).
    assert note.startswith("### Offline world-model diagnostics, not reinforcement learning")
    status = cli("study.status", "finding2", "--results", str(tmp_path), cwd=tmp_path)
    assert "8 runs: 4 failed, 4 done" in status.stdout, status.stdout + status.stderr


def test_index_merges_runs_across_invocations(tmp_path):
    """--tasks A, then --tasks B, then more seeds: the index holds every run once."""
    a = expand("finding1", "smoke", tasks=["metaworld/lever-pull"])
    b = expand("finding1", "smoke", tasks=["metaworld/hammer"])
    both = expand("finding1", "smoke", seeds=2, tasks=["metaworld/lever-pull",
                                                       "metaworld/hammer"])
    for runs in (a, b, both):
        write_study_index(tmp_path, "finding1", runs, "smoke")
    index = read_study_index(tmp_path, "finding1")
    ids = [r["run_id"] for r in index["runs"]]
    assert sorted(ids) == sorted({r.id for r in both}) and len(ids) == len(set(ids))
    assert len(index["invocations"]) == 3 and index["preset"] == "smoke"
    finish(tmp_path, a + b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load.load_study(tmp_path, "finding1")
    assert set(table["run_id"]) == {r.id for r in a + b}


def test_reports_keep_to_one_configuration(tmp_path):
    """Finished runs of two configurations of one study are not pooled as seeds: reports use
    the latest configuration that has finished runs, and say what they left out."""
    old = expand("finding2", "smoke")
    new = expand("finding2", "smoke", overrides=["model.deter=64"])
    write_study_index(tmp_path, "finding2", old, "smoke")
    write_study_index(tmp_path, "finding2", new, "smoke", overrides=["model.deter=64"])
    finish(tmp_path, old + new)
    with pytest.warns(UserWarning, match="model.deter=64|other configuration"):
        table = load.load_study(tmp_path, "finding2")
    assert set(table["run_id"]) == {r.id for r in new}
    assert "2 of 2 runs" in load.scale_note(load.study_index(tmp_path, "finding2"), table)


@pytest.mark.parametrize("text", ["{not json", "[]", '{"runs": 3}', '{"runs": [{"x": 1}]}'])
def test_a_damaged_index_is_one_line_with_a_way_out(tmp_path, text):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "finding2.json").write_text(text)
    with pytest.raises(StudyIndexError, match="damaged.*--index-only"):
        read_study_index(tmp_path, "finding2")
    with pytest.raises(load.NoResultsError, match="damaged"):
        load.load_study(tmp_path, "finding2")
    line = one_line(cli("study.report", "finding2", "--results", str(tmp_path), cwd=tmp_path), 1)
    assert "damaged" in line and "python -m study.run finding2" in line


def test_study_run_rebuilds_a_damaged_index(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "finding2.json").write_text("{not json")
    proc = cli("study.run", "finding2", "--preset", "smoke", "--seeds", "2", "--index-only",
               "--results", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "damaged" in proc.stderr and proc.stderr.count("\n") == 1
    index = read_study_index(tmp_path, "finding2")
    assert {r["run_id"] for r in index["runs"]} == {r.id for r in expand("finding2", "smoke",
                                                                          seeds=2)}
    assert list(tmp_path.iterdir()) == [tmp_path / "studies"]  # nothing ran
    assert (tmp_path / "studies" / "finding2.json.damaged").read_text() == "{not json"


def test_unusable_results_paths(tmp_path):
    (tmp_path / "file").write_text("x")
    for path in (tmp_path / "file" / "sub", tmp_path / "file"):
        line = one_line(cli("study.run", "finding2", "--preset", "smoke", "--results",
                            str(path), cwd=tmp_path), 2)
        assert "--results" in line
    line = one_line(cli("study.run", "finding2", "--preset", "smoke", "--results",
                        "/sys/harmonydream-results", cwd=tmp_path), 1)  # EPERM, even for root
    assert "--results" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_report_out_pointing_at_a_file(tmp_path):
    good = expand("finding2", "smoke")
    write_study_index(tmp_path, "finding2", good, "smoke")
    finish(tmp_path, good)
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        line = one_line(cli("study.report", "finding2", "--results", str(tmp_path), "--out",
                            str(out), cwd=tmp_path), 2)
        assert "--out" in line
    line = one_line(cli("study.report", "finding2", "--results", str(tmp_path), "--out",
                        "/sys/harmonydream-report", cwd=tmp_path), 1)
    assert "--out" in line


def test_study_status_on_a_damaged_index_is_one_line(tmp_path):
    """study.status reads the index through the same reader as study.report: a damaged one
    is one line saying how to rebuild it, exit 1, not a traceback."""
    index = tmp_path / "studies" / "finding1.json"
    index.parent.mkdir(parents=True)
    index.write_text("{not json")
    proc = subprocess.run([sys.executable, "-m", "study.status", "finding1", "--results",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--index-only" in lines[0], proc.stderr
