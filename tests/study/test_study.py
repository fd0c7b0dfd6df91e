"""Study grids, run ids, and the local executor on real smoke runs."""

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents.config import ConfigError
from study.grid import expand, run_id
from study.specs import STUDIES


def test_finding1_grid():
    runs = expand("finding1", "paper")
    assert len(runs) == 3 * 4 * 5
    assert sorted({r.config.weighting.w_r for r in runs}) == [1, 10, 100, 1000]
    assert {r.task for r in runs} == {"metaworld/lever-pull", "metaworld/handle-pull-side",
                                      "metaworld/hammer"}
    assert {r.config.train.mode for r in runs} == {"online"}
    assert len({r.id for r in runs}) == len(runs)
    quick = expand("finding1", "quick")  # offline diagnostics on Lever Pull, 3 seeds
    assert len(quick) == 2 * 3 and sorted({r.config.weighting.w_r for r in quick}) == [1, 100]
    assert len(expand("finding1", "smoke")) == 4  # the whole sweep, a pipeline check
    assert {(r.task, r.config.train.mode) for r in quick} == {("metaworld/lever-pull", "offline")}


def test_quick_studies_share_offline_runs():
    """Below paper scale one dataset serves every study, so equal configs are one run."""
    ids = {name: {r.label: {x.id for x in expand(name, "quick") if x.label == r.label}
                  for r in expand(name, "quick")} for name in STUDIES}
    assert ids["finding2"]["w_r=1"] == ids["finding1"]["w_r=1"] == ids["finding3"]["dreamerv2"]
    assert ids["finding2"]["w_r=100"] == ids["finding1"]["w_r=100"] == ids["ablations"]["w_r=100"]
    lever = {r.id for r in expand("harmony", "quick", tasks=["metaworld/lever-pull"])}
    assert lever == ids["finding3"]["harmony"] | ids["finding3"]["dreamerv2"]


def test_every_study_expands_at_every_preset(tmp_path, monkeypatch):
    import imageio.v3 as iio

    # The paper's distracted-DMC tasks read a video folder (Kinetics there; one GIF here).
    iio.imwrite(tmp_path / "clip.gif", np.zeros((2, 8, 8, 3), np.uint8), extension=".gif")
    monkeypatch.setenv("HD_DISTRACTOR_VIDEOS", str(tmp_path))
    for name in STUDIES:
        for preset in ("smoke", "quick", "gpu", "paper"):
            assert expand(name, preset, seeds=1)


def test_dreamer_check_gpu_is_the_paper_config_cut_at_100k_frames(tmp_path):
    """Issue 13's GPU check: the paper config of each task except for the listed scale and
    execution fields, and its reports say what scale that is (not the small gpu model's)."""
    from study.results import write_study_index

    runs = expand("dreamer_check", "gpu")
    assert {(r.task, r.seed) for r in runs} == {
        (t, s) for t in ("dmc/cartpole-swingup", "dmc/walker-walk") for s in range(3)}
    allowed = {("train", k) for k in ("steps", "device", "precision", "cuda_graphs",
                                      "eval_every", "eval_episodes", "checkpoint_every",
                                      "seed")} | {("env", "num_envs"), ("preset",)}
    for r in runs:
        paper = expand("dreamer_check", "paper", tasks=[r.task], seeds=3)[r.seed].config.to_dict()
        ours = r.config.to_dict()
        diff = {(sec, k) for sec in ours if isinstance(ours[sec], dict)
                for k in ours[sec] if ours[sec][k] != paper[sec][k]}
        assert diff <= allowed, diff
        assert r.config.model.stoch == 32 and r.config.model.depth == 48  # not the quick model
        assert r.config.train.steps == 100_000
    index = json.loads(write_study_index(tmp_path, "dreamer_check", runs, "gpu").read_text())
    assert "paper's DreamerV2 config" in index["scale"]


def test_run_ids_are_stable_and_shared_across_studies():
    f1 = {r.id for r in expand("finding1", "paper", seeds=2)}
    f2 = {r.id for r in expand("finding2", "paper", seeds=2)}
    assert f2 <= f1, "at paper scale finding2's runs are finding1's runs"
    offline = expand("finding2", "smoke", seeds=2)
    assert {r.config.train.mode for r in offline} == {"offline"}
    again = expand("finding1", "paper", seeds=2)
    assert {r.id for r in again} == f1
    run = again[0]
    run.config.train.threads = 7  # execution details: same run
    run.config.train.cuda_graphs = True
    assert run_id(run.config) == again[0].id
    changed = expand("finding1", "paper", seeds=1, overrides=["model.deter=64"])
    assert not {r.id for r in changed} & f1


@pytest.mark.parametrize("kwargs", [dict(study="nope"), dict(study="finding1", preset="huge"),
                                    dict(study="finding1", tasks=["metaworld/nope"]),
                                    dict(study="finding1", overrides=["model.x=1"]),
                                    dict(study="finding1", seeds=0)])
def test_bad_input(kwargs):
    with pytest.raises(ConfigError):
        expand(**kwargs)


def run_cli(*args, results):
    return subprocess.run([sys.executable, "-m", "study.run", *args, "--results", str(results),
                           "--no-progress"], capture_output=True, text=True, timeout=900)


def test_cli_bad_input_launches_nothing(tmp_path):
    for args in (["nope"], ["finding1", "--set", "model.x=1"], ["finding1", "--preset", "huge"],
                 ["finding1", "--executor", "magic"], ["finding1", "--tasks", "dmc/nope-x"]):
        proc = run_cli(*args, results=tmp_path)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_local_executor_runs_a_smoke_grid_once(tmp_path):
    args = ["finding2", "--preset", "smoke", "--seeds", "2", "--workers", "2",
            "--set", "train.steps=100", "--set", "train.mode=online"]
    proc = run_cli(*args, results=tmp_path)
    assert proc.returncode == 0, proc.stderr
    index = json.loads((tmp_path / "studies" / "finding2.json").read_text())
    assert len(index["runs"]) == 4
    for row in index["runs"]:
        run = tmp_path / row["run_id"]
        assert json.loads((run / "status.json").read_text())["state"] == "done"
        assert json.loads((run / "config.json").read_text())["train"]["threads"] == 1
        prov = json.loads((run / "provenance.json").read_text())
        assert prov["packages"]["torch"] and "end_time" in prov
        evals = pd.read_json(run / "metrics.jsonl", lines=True).query("split == 'eval'")
        assert evals["step"].tolist() == [50, 100]
    status = subprocess.run([sys.executable, "-m", "study.status", "finding2",
                             "--results", str(tmp_path)], capture_output=True, text=True)
    assert "4 runs: 4 done" in status.stdout
    again = run_cli(*args, results=tmp_path)
    assert "0 to run" in again.stdout and again.returncode == 0


def _hammer(results: str, worker: int) -> None:
    from agents.run.status import write_status
    from study.results import write_provenance, write_study_index

    runs = expand("finding1", "smoke", seeds=2)
    for i in range(40):
        write_study_index(results, "finding1", runs, "smoke")  # the same file, every worker
        for run in runs[worker::8]:
            directory = os.path.join(results, run.id)
            os.makedirs(directory, exist_ok=True)
            write_provenance(directory, run, worker=worker, i=i)
            write_status(Path(directory), "running", step=i)


def test_eight_concurrent_writers_leave_intact_files(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), w)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 1 + 2 * len(expand("finding1", "smoke", seeds=2))
    for f in files:
        json.loads(f.read_text())  # every file parses: no torn writes
    assert not list(tmp_path.rglob("*.tmp")), "no temporary files left behind"


def test_local_runs_get_disjoint_cpu_shares():
    from study.local import cpu_shares

    cores = os.sched_getaffinity(0)
    shares = cpu_shares(len(cores))
    assert all(len(s) == 1 for s in shares) and set().union(*shares) == cores
    assert cpu_shares(len(cores) + 1) == [set()] * (len(cores) + 1), "too few cores: unpinned"
    one = cpu_shares(1)
    assert one == [cores]


def test_provenance_records_the_code_each_start_ran(tmp_path, monkeypatch):
    """A run's commit is the checkout when a process started it, not when it ended: the end
    write keeps it, and a resume on other code adds that commit."""
    import study.results as results

    run = expand("finding1", "smoke", seeds=1)[0]
    monkeypatch.setattr(results, "_git_commit", lambda: "aaa")
    results.write_provenance(tmp_path, run)
    monkeypatch.setattr(results, "_git_commit", lambda: "bbb")  # code changed mid-run
    results.write_provenance(tmp_path, run, end_time=1.0)
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["git_commit"] == "aaa" and prov["git_commits"] == ["aaa"]
    results.write_provenance(tmp_path, run)  # resumed on the new code
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["git_commit"] == "aaa" and prov["git_commits"] == ["aaa", "bbb"]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to pin to one")
def test_a_pinned_pool_counts_only_its_own_cores():
    """Under taskset (or a cpuset), the local pool's cores are its affinity set: its default
    workers and each run's threads follow them, so two pinned pools do not oversubscribe."""
    code = ("from study.local import usable_cores; from study.run import build_parser; "
            "print(usable_cores(), build_parser().parse_args(['finding1']).workers)")
    one = min(os.sched_getaffinity(0))
    pinned = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {one}))
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert pinned.stdout.split() == ["1", "1"], pinned.stderr
    assert free.stdout.split() == [str(len(os.sched_getaffinity(0)))] * 2, free.stderr
