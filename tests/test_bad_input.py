"""Bad input on every command line: one line on stderr, exit 2, nothing launched or written.

Each command runs in an empty working directory (its default results/ would land there), so
"nothing written" is checked by that directory staying empty.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NOWHERE = "/nonexistent/harmonydream"
BAD_JSON = "bad.json"  # written by the test beside the command, outside its working directory

CASES = {
    # study.run: unknown names
    "run unknown study": ("study.run", ["nope"]),
    "run unknown preset": ("study.run", ["finding1", "--preset", "huge"]),
    "run unknown executor": ("study.run", ["finding1", "--executor", "magic"]),
    "run unknown task": ("study.run", ["finding1", "--tasks", "dmc/nope-x"]),
    "run task with stray characters": ("study.run", ["finding1", "--tasks",
                                                     "metaworld/lever-pull!"]),
    "run task with a space": ("study.run", ["finding1", "--tasks", "metaworld/lever pull"]),
    "run empty task": ("study.run", ["finding1", "--tasks", ""]),
    "run unknown config key": ("study.run", ["finding1", "--set", "model.x=1"]),
    "run override without =": ("study.run", ["finding1", "--set", "model.deter"]),
    "run unknown option": ("study.run", ["finding1", "--colour", "blue"]),
    # study.run: wrong types, zero and negative counts, out of range
    "run non-integer deter": ("study.run", ["finding1", "--set", "model.deter=abc"]),
    "run negative deter": ("study.run", ["finding1", "--set", "model.deter=-5"]),
    "run zero seeds": ("study.run", ["finding1", "--seeds", "0"]),
    "run seeds not a number": ("study.run", ["finding1", "--seeds", "two"]),
    "run zero workers": ("study.run", ["finding1", "--workers", "0"]),
    "run discount out of range": ("study.run", ["finding1", "--set", "behaviour.discount=1.5"]),
    "run negative reward weight": ("study.run", ["finding1", "--set", "weighting.w_r=-1"]),
    "run bad bool": ("study.run", ["finding1", "--set", "replay.prioritize_ends=maybe"]),
    # study.run: contradictions, missing and unreadable files
    "run fp16 with cuda graphs": ("study.run", ["finding1", "--set", "train.precision=fp16",
                                                "--set", "train.cuda_graphs=true"]),
    "run decoder size != image size": ("study.run", ["finding1", "--set", "env.image_size=32"]),
    "run results is a file": ("study.run", ["finding1", "--results", BAD_JSON]),
    "run missing slurm profile": ("study.run", ["finding1", "--executor", "slurm", "--profile",
                                                f"{NOWHERE}/p.json"]),
    "run unreadable slurm profile": ("study.run", ["finding1", "--executor", "slurm",
                                                   "--profile", BAD_JSON]),
    "run zero slurm time": ("study.run", ["finding1", "--executor", "slurm", "--time", "0"]),
    # study.status
    "status unknown study": ("study.status", ["nope"]),
    "status missing results": ("study.status", ["finding1", "--results", NOWHERE]),
    "status unknown option": ("study.status", ["finding1", "--since", "monday"]),
    # study.report
    "report unknown study": ("study.report", ["nope"]),
    "report too few resamples": ("study.report", ["finding1", "--reps", "10"]),
    "report resamples not a number": ("study.report", ["finding1", "--reps", "many"]),
    "report missing results": ("study.report", ["finding1", "--results", NOWHERE]),
    # agents.train
    "train unknown task": ("agents.train", ["--task", "metaworld/nope", "--out", "r"]),
    "train empty task": ("agents.train", ["--task", "", "--out", "r"]),
    "train unknown agent": ("agents.train", ["--agent", "dreamerv9", "--out", "r"]),
    "train atari with dreamerv2": ("agents.train", ["--task", "atari/pong", "--out", "r"]),
    "train dmc with dreamerv3": ("agents.train", ["--task", "dmc/cartpole-swingup",
                                                  "--agent", "dreamerv3", "--out", "r"]),
    "train unknown game": ("agents.train", ["--task", "atari/nope", "--agent", "dreamerv3",
                                            "--out", "r"]),
    "train offline dreamerv3": ("agents.train", ["--agent", "dreamerv3", "--set",
                                                 "train.mode=offline", "--out", "r"]),
    "train unknown weighting": ("agents.train", ["--weighting", "magic", "--out", "r"]),
    "train unknown preset": ("agents.train", ["--preset", "huge", "--out", "r"]),
    "train negative seed": ("agents.train", ["--seed", "-1", "--out", "r"]),
    "train seed not a number": ("agents.train", ["--seed", "x", "--out", "r"]),
    "train empty out": ("agents.train", ["--out", ""]),
    "train no out": ("agents.train", []),
    "train zero steps": ("agents.train", ["--set", "train.steps=0", "--out", "r"]),
    "train bad mode": ("agents.train", ["--set", "train.mode=sideways", "--out", "r"]),
    "train offline on dmc": ("agents.train", ["--task", "dmc/cartpole-swingup", "--set",
                                              "train.mode=offline", "--out", "r"]),
    # agents.bench
    "bench zero reps": ("agents.bench", ["--reps", "0"]),
    "bench negative env steps": ("agents.bench", ["--env-steps", "-3"]),
    "bench unknown row": ("agents.bench", ["--rows", "nope"]),
    "bench unknown config key": ("agents.bench", ["--set", "model.x=1"]),
}


if not torch.cuda.is_available():  # asking for CUDA is bad input only where there is none
    CASES["run cuda runs without CUDA"] = ("study.run", ["harmony", "--preset", "gpu"])
    CASES["train cuda without CUDA"] = ("agents.train", ["--set", "train.device=cuda",
                                                         "--out", "r"])


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, name):
    module, args = CASES[name]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / BAD_JSON).write_text("{not json")
    args = [str(tmp_path / a) if a == BAD_JSON else a for a in args]
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert not list(cwd.iterdir()), "nothing is written"


def test_train_refuses_a_directory_holding_another_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    theirs = subprocess.run([sys.executable, "-m", "agents.train", "--task",
                             "dmc/cartpole-swingup", "--preset", "smoke", "--out", str(out),
                             "--set", "train.steps=0"], capture_output=True, text=True,
                            cwd=ROOT)
    assert theirs.returncode == 2  # invalid: nothing made
    from agents.config import make_config

    (out / "config.json").write_text(make_config("smoke", "dmc/cartpole-swingup").to_json())
    before = {p: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.run([sys.executable, "-m", "agents.train", "--task",
                           "dmc/cartpole-swingup", "--preset", "smoke", "--out", str(out),
                           "--set", "weighting.w_r=100"], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and "different config" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in out.iterdir()} == before
    assert json.loads((out / "config.json").read_text())["weighting"]["w_r"] == 1
