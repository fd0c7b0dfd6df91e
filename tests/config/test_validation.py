"""Everything is validated before launch (issue 25, part 5): finite floats, runs that would do
no update, camera names against the task's model, 32-bit seeds, "did you mean" for near
misses, --agent against --set model.agent, and agents.bench's --json path. Bad input is one
line on stderr and exit 2, before any work."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.config import ConfigError, make_config

ROOT = Path(__file__).resolve().parents[2]
MW, DMC = "metaworld/lever-pull", "dmc/cartpole-swingup"


def run_module(module, args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def one_line_error(proc, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


# --- finite floats -------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["weighting.w_r", "weighting.w_o", "model.lr", "model.clip",
                                 "behaviour.actor_lr", "behaviour.critic_lr",
                                 "behaviour.actor_entropy", "model.free_nats",
                                 "behaviour.actor_min_std", "model.eps"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
def test_every_float_must_be_finite(key, value):
    with pytest.raises(ConfigError, match=rf"{key} must be finite"):
        make_config("smoke", DMC, [f"{key}={value}"])


def test_finite_floats_pass():
    make_config("smoke", DMC, ["weighting.w_r=100", "model.clip=1e6"])


# --- runs that would do zero updates -------------------------------------------------------

@pytest.mark.parametrize("overrides", [
    ["train.steps=200", "train.prefill=500"],
    ["train.steps=300", "train.prefill=301"],
    # no pretraining: prefill = steps, or fewer steps after prefill than one update needs
    ["train.steps=300", "train.prefill=300", "train.pretrain=0"],
    ["train.steps=105", "train.prefill=100", "train.pretrain=0", "train.train_every=10"],
])
def test_a_run_that_would_do_zero_updates_is_bad_input(overrides):
    with pytest.raises(ConfigError, match="no update"):
        make_config("smoke", DMC, overrides)


def test_runs_that_make_updates_pass_and_offline_ignores_prefill():
    make_config("smoke", DMC, ["train.steps=101", "train.prefill=100"])
    make_config("smoke", DMC, ["train.steps=110", "train.prefill=100", "train.pretrain=0"])
    # prefill = steps: the pretraining updates run at the last step (studies' smoke tests)
    make_config("smoke", DMC, ["train.steps=100", "train.prefill=100"])
    make_config("smoke", MW, ["train.mode=offline", "train.steps=10", "train.prefill=100"])


# --- camera names against the task's model -------------------------------------------------

@pytest.mark.parametrize("task, camera", [(MW, "corner2"), (MW, "topview"), (DMC, "0"),
                                          (DMC, "1"), (DMC, "lookatcart"),
                                          ("dmc/walker-walk", "back")])
def test_cameras_of_the_model_pass(task, camera):
    assert make_config("smoke", task, [f"env.camera={camera}"]).env.camera == camera


@pytest.mark.parametrize("task, camera, match", [
    (MW, "cornr", r"unknown camera 'cornr' for metaworld/lever-pull.*did you mean 'corner'"),
    (MW, "0", r"unknown camera '0' for metaworld/lever-pull"),
    (DMC, "2", r"unknown camera '2' for dmc/cartpole-swingup.*0, 1, fixed, lookatcart"),
    (DMC, "side", r"unknown camera 'side' for dmc/cartpole-swingup"),
    ("dmc/walker-walk", "lookatcart", r"unknown camera 'lookatcart' for dmc/walker-walk"),
])
def test_a_camera_the_model_lacks_is_bad_input(task, camera, match):
    with pytest.raises(ConfigError, match=match):
        make_config("smoke", task, [f"env.camera={camera}"])


def test_camera_names_come_from_the_real_model():
    """The cheap XML read agrees with MuJoCo's compiled model (names and their order)."""
    import mujoco

    from agents.envs import DMCEnv, MetaWorldEnv, model_cameras

    env = DMCEnv("walker-walk", 16)
    model = env._env.physics.model
    assert list(model_cameras(DMC_WALKER := "dmc/walker-walk")) == [
        model.id2name(i, "camera") for i in range(model.ncam)], DMC_WALKER
    env.close()
    env = MetaWorldEnv("lever-pull", 16)
    model = env._env.model
    assert list(model_cameras(MW)) == [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i)
                                 for i in range(model.ncam)]
    env.close()


def test_camera_checks_are_cheap():
    import time

    make_config("smoke", "metaworld/hammer")  # warm the imports
    t0 = time.perf_counter()
    for _ in range(50):
        make_config("smoke", "metaworld/hammer")
        make_config("smoke", "dmc/walker-walk")
    assert time.perf_counter() - t0 < 10


# --- seeds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [2**32, 2**64, 10**30])
def test_seeds_must_fit_32_bits(seed):
    with pytest.raises(ConfigError, match="train.seed"):
        make_config("smoke", DMC, [f"train.seed={seed}"])


def test_the_largest_32_bit_seed_passes():
    assert make_config("smoke", DMC, [f"train.seed={2**32 - 1}"]).train.seed == 2**32 - 1


# --- did you mean --------------------------------------------------------------------------

@pytest.mark.parametrize("task, suggestion", [
    ("metaworld/lever-pul", "metaworld/lever-pull"),
    ("metaworld/lever_pull", "metaworld/lever-pull"),
    ("dmc/cartpole-swingpu", "dmc/cartpole-swingup"),
    ("metaword/lever-pull", "metaworld/lever-pull"),
    ("atari/pongg", "atari/pong"),
])
def test_a_near_miss_task_says_did_you_mean(task, suggestion):
    agent = ["model.agent=dreamerv3"] if task.startswith("atari") else []
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'"):
        make_config("smoke", task, agent)


@pytest.mark.parametrize("name, suggestion", [("harmoni", "harmony"),
                                              ("Harmony", "harmony"),
                                              ("reward-only", "reward_only")])
def test_a_near_miss_weighting_says_did_you_mean(name, suggestion):
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'"):
        make_config("smoke", DMC, [f"weighting.name={name}"])


def test_a_far_miss_lists_the_choices_without_guessing():
    with pytest.raises(ConfigError) as err:
        make_config("smoke", DMC, ["weighting.name=zzzzzz"])
    assert "did you mean" not in str(err.value) and "harmony" in str(err.value)


# --- --agent against --set model.agent -----------------------------------------------------

@pytest.mark.parametrize("args, match", [
    (["--agent", "dreamerv2", "--set", "model.agent=dreamerv3"], "--agent.*model.agent"),
    (["--agent", "dreamerv3", "--set", "model.agent=dreamerv2"], "--agent.*model.agent"),
    # the other options that stand for a config key
    (["--weighting", "harmony", "--set", "weighting.name=fixed"], "--weighting.*weighting"),
    (["--seed", "1", "--set", "train.seed=2"], "--seed.*train.seed"),
])
def test_agent_flag_and_set_disagreeing_is_an_error(args, match):
    from agents.train import parse_args

    with pytest.raises(ConfigError, match=match):
        parse_args(["--task", DMC, "--preset", "smoke", "--out", "r", *args])


@pytest.mark.parametrize("args, agent", [
    (["--set", "model.agent=dreamerv3"], "dreamerv3"),
    (["--agent", "dreamerv3", "--set", "model.agent=dreamerv3"], "dreamerv3"),
    (["--agent", "dreamerv3"], "dreamerv3"),
    ([], "dreamerv2"),
])
def test_agent_flag_and_set_agreeing_or_alone(args, agent):
    from agents.train import parse_args

    task = "atari/pong" if agent == "dreamerv3" else DMC  # dreamerv3 acts one-hot: Atari only
    cfg, _ = parse_args(["--task", task, "--preset", "smoke", "--out", "r", *args])
    assert cfg.model.agent == agent


# --- the command line: one line, exit 2, nothing written ----------------------------------

@pytest.mark.parametrize("args", [
    ["--set", "weighting.w_r=inf"],
    ["--set", "env.camera=nope"],
    ["--seed", str(2**64)],
    ["--set", "train.prefill=301"],
    ["--task", "metaworld/lever-pul"],
    ["--agent", "dreamerv2", "--set", "model.agent=dreamerv3"],
])
def test_train_cli_bad_input_is_one_line_before_any_work(tmp_path, args):
    proc = run_module("agents.train", ["--task", DMC, "--preset", "smoke", "--out", "r",
                                       *args], cwd=tmp_path)
    one_line_error(proc)
    assert not list(tmp_path.iterdir()), "nothing is written"


@pytest.mark.parametrize("where", ["directory", "missing parent"])
def test_bench_json_path_is_checked_before_the_benchmark(tmp_path, where):
    target = tmp_path if where == "directory" else tmp_path / "nope" / "out.json"
    proc = run_module("agents.bench", ["--rows", "matmul", "--reps", "1", "--json",
                                       str(target)], cwd=tmp_path)
    line = one_line_error(proc)
    assert "--json" in line and str(target) in line
    assert proc.stdout == "", "no benchmark ran"


def test_log_extras_are_one_fact():
    """The extras log.outputs needs are checked by the config (LOG_EXTRAS) and imported by the
    run's sinks: agents/run/outputs.py must agree until it imports LOG_EXTRAS itself."""
    from agents.config import LOG_EXTRAS
    from agents.run import outputs

    assert outputs.EXTRAS == LOG_EXTRAS
