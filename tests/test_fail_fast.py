"""Bad environment and bad input fail fast, in one line (issue 43, class 6): the environment
variables the project reads are checked before use, empty paths are refused alike by every
command, the study commands share one "unknown study" message, and the command lines refuse
bad tasks, weightings, presets and --set keys before torch, MuJoCo or ALE is imported."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.config import make_config

ROOT = Path(__file__).resolve().parents[1]
# Runs MODULE.main(ARGS) and prints its exit code and which of torch, the simulators and ALE
# were imported by then.
PROBE = """
import json, sys, importlib
module, args = sys.argv[1], json.loads(sys.argv[2])
try:
    rc = importlib.import_module(module).main(args)
except SystemExit as exc:
    rc = exc.code
heavy = ("torch", "mujoco", "metaworld", "dm_control", "ale_py")
print(json.dumps({"rc": rc, "heavy": sorted(m for m in heavy if m in sys.modules)}))
"""


def probe(module: str, args: list[str], cwd: Path, **env: str) -> tuple[dict, str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run([sys.executable, "-c", PROBE, module, json.dumps(args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=environ)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def run_dir(tmp_path: Path) -> Path:
    """A directory holding a run's config (what agents.evaluate checks first)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(make_config("smoke", "dmc/cartpole-swingup").to_json())
    return run


BAD_ENV = {
    "MUJOCO_GL unknown": {"MUJOCO_GL": "vulkan"},
    "MUJOCO_GL empty": {"MUJOCO_GL": ""},
    "PYOPENGL_PLATFORM unknown": {"PYOPENGL_PLATFORM": "nope"},
    "PYOPENGL_PLATFORM against MUJOCO_GL": {"MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "osmesa"},
    "HD_DATASETS empty": {"HD_DATASETS": ""},
    "HD_DATASETS a file": {"HD_DATASETS": "FILE"},
    "HD_DISTRACTOR_VIDEOS missing": {"HD_DISTRACTOR_VIDEOS": "/nonexistent/videos"},
}
COMMANDS = {
    "agents.train": ["--task", "dmc/cartpole-swingup", "--preset", "smoke", "--out", "r"],
    "study.run": ["finding2", "--preset", "smoke", "--index-only"],
    "agents.evaluate": ["RUN"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(BAD_ENV))
def test_a_bad_environment_variable_is_one_line_before_any_import(tmp_path, case, command):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / "file").write_text("x")
    env = {k: str(tmp_path / "file") if v == "FILE" else v for k, v in BAD_ENV[case].items()}
    args = [str(run_dir(tmp_path)) if a == "RUN" else a for a in COMMANDS[command]]
    got, stderr = probe(command, args, cwd, **env)
    assert got["rc"] == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert list(env)[-1] in lines[0], lines[0]
    assert got["heavy"] == [], "refused before torch or a simulator is imported"
    assert not list(cwd.iterdir()), "nothing written"


EMPTY_PATHS = {
    "train --out": ("agents.train", ["--out", ""]),
    "run --results": ("study.run", ["finding1", "--results", ""]),
    "run --results blank": ("study.run", ["finding1", "--results", "  ", "--index-only"]),
    "status --results": ("study.status", ["finding1", "--results", ""]),
    "report --results": ("study.report", ["finding1", "--results", ""]),
    "report --out": ("study.report", ["finding1", "--out", ""]),
    "evaluate RUN_DIR": ("agents.evaluate", [""]),
    "evaluate --out": ("agents.evaluate", ["RUN", "--out", ""]),
    "bench --json": ("agents.bench", ["--json", "", "--rows", "matmul"]),
}


@pytest.mark.parametrize("case", list(EMPTY_PATHS))
def test_an_empty_path_is_refused_alike_by_every_command(tmp_path, case):
    """An unset shell variable ("") is never the working directory by accident."""
    module, args = EMPTY_PATHS[case]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = [str(run_dir(tmp_path)) if a == "RUN" else a for a in args]
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "empty path" in lines[0], lines[0]
    assert not list(cwd.iterdir()), "nothing written"


def test_the_study_commands_share_one_unknown_study_message(tmp_path):
    lines = set()
    for module in ("study.run", "study.status", "study.report"):
        proc = subprocess.run([sys.executable, "-m", module, "findng1", "--results",
                               str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert proc.returncode == 2, (module, proc.stderr)
        lines.add(proc.stderr.strip())
    [line] = lines
    assert line.startswith("error: unknown study 'findng1'") and "finding1" in line
    assert line.endswith("did you mean 'finding1'?"), line  # from the study registry


EARLY = {
    "train task": ("agents.train", ["--task", "metaworld/lever-pul", "--out", "r"]),
    "train task without suite": ("agents.train", ["--task", "lever-pull", "--out", "r"]),
    "train weighting": ("agents.train", ["--weighting", "harmoni", "--out", "r"]),
    "train preset": ("agents.train", ["--preset", "huge", "--out", "r"]),
    "train set key": ("agents.train", ["--set", "model.x=1", "--out", "r"]),
    "train set value": ("agents.train", ["--set", "model.deter=-5", "--out", "r"]),
    "train camera": ("agents.train", ["--set", "env.camera=nope", "--out", "r"]),
    "train atari game": ("agents.train", ["--task", "atari/pongg", "--agent", "dreamerv3",
                                          "--out", "r"]),
    "run task": ("study.run", ["finding1", "--tasks", "metaworld/nope"]),
    "run preset": ("study.run", ["finding1", "--preset", "huge"]),
    "run set key": ("study.run", ["finding1", "--set", "model.x=1"]),
    "run study": ("study.run", ["findng1"]),
    "evaluate set key": ("agents.evaluate", ["RUN", "--set", "model.x=1"]),
    "evaluate weighting": ("agents.evaluate", ["RUN", "--set", "weighting.name=magic"]),
}


@pytest.mark.parametrize("case", list(EARLY))
def test_bad_input_is_refused_before_torch_or_a_simulator_is_imported(tmp_path, case):
    """The import cost, measured as what is imported when the error is raised (not a time)."""
    module, args = EARLY[case]
    args = [str(run_dir(tmp_path)) if a == "RUN" else a for a in args]
    got, stderr = probe(module, args, tmp_path)
    assert got["rc"] == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert got["heavy"] == [], f"imported before the error: {got['heavy']}"


def test_metaworld_task_names_read_without_import_are_metaworlds():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    from agents.envs import metaworld_task_names

    assert metaworld_task_names() == sorted(n.removesuffix("-v3") for n in ALL_V3_ENVIRONMENTS)


def test_the_weighting_names_are_the_weightings_built():
    from agents.config import WEIGHTINGS_REGISTRY
    from agents.weighting import WEIGHTINGS

    assert tuple(WEIGHTINGS) == tuple(WEIGHTINGS_REGISTRY)
