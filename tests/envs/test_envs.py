"""Real MuJoCo rendering of Meta-world and DMC: shapes, dtypes, upright non-blank frames, state."""

import os
import signal

import numpy as np
import pytest

from agents.envs import UnknownTaskError, make_env

TASKS = ["metaworld/lever-pull", "metaworld/handle-pull-side", "metaworld/hammer",
         "dmc/cartpole-swingup", "dmc/reacher-easy", "dmc/finger-spin", "dmc/cheetah-run",
         "dmc/walker-walk"]


@pytest.fixture(params=TASKS)
def env(request):
    suite = request.param.split("/")[0]
    env = make_env(request.param, 64, episode_length=20,
                   action_repeat=1 if suite == "metaworld" else 2)
    yield env
    env.close()


def test_reset_step_contract(env):
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (env.state_dim,)
    assert obs["image"].std() > 5, "blank frame"
    steps, truncated = 0, False
    while not truncated:
        obs, reward, terminated, truncated, info = env.step(np.zeros(env.action_dim))
        assert isinstance(reward, float) and not terminated
        assert "success" in info
        steps += 1
    assert steps * env.action_repeat == 20


def test_seeding_reproduces_first_frame(env):
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    c, _ = env.reset(seed=8)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["state"], b["state"])
    assert not np.array_equal(a["state"], c["state"]), "a new seed must move the goal/object"


# dm_control renders every domain through the same call, so one DMC domain checks them all.
@pytest.mark.parametrize("task",
                         ["metaworld/lever-pull", "metaworld/hammer", "dmc/cartpole-swingup"])
def test_frames_are_upright(task):
    # DMC: the blue sky is at the top. Meta-world's corner camera: the flat grey wall fills the
    # top rows and never the bottom ones (the table and floor are there); a flipped frame fails.
    env = make_env(task, 64)
    image = env.reset(seed=0)[0]["image"].astype(int)
    env.close()
    if task.startswith("metaworld"):
        wall = np.array([127, 126, 122])
        is_wall = lambda x: (np.abs(x - wall).sum(-1) < 6).mean()
        assert is_wall(image[:8]) > 0.5 and is_wall(image[-8:]) < 0.05
    else:
        assert image[:12, :, 2].mean() > image[-12:, :, 2].mean()


def test_metaworld_state_is_the_39d_observation():
    env = make_env("metaworld/lever-pull", 64, episode_length=5)
    obs, _ = env.reset(seed=0)
    assert obs["state"].shape == (39,)
    # The last three numbers are the goal position, which moves with the reset seed.
    goal = [env.reset(seed=s)[0]["state"][-3:] for s in range(3)]
    env.close()
    assert np.ptp(np.stack(goal), axis=0).max() > 1e-3


def test_unknown_task():
    with pytest.raises(UnknownTaskError):
        make_env("metaworld/not-a-task")
    with pytest.raises(UnknownTaskError):
        make_env("gym/pong")
    with pytest.raises(UnknownTaskError):
        make_env("atari/not_a_game")


def test_env_pool_matches_one_env_and_steps_in_parallel_workers():
    from agents.envs import EnvOptions
    from agents.envs.parallel import EnvPool, EnvSpec

    spec = EnvSpec("dmc/cartpole-swingup", EnvOptions(64, 20, 2, "0"))
    one, pool = EnvPool(spec, 1), EnvPool(spec, 3)
    pids = pool.pids
    try:
        assert len(set(pool.pids)) == 3 and pool.action_dim == one.action_dim
        ref = one.reset({0: 7})[0][0]
        got = pool.reset({0: 11, 1: 7, 2: 7})
        assert np.array_equal(got[1][0]["image"], ref["image"])  # same seed, same frame
        assert np.array_equal(got[1][0]["image"], got[2][0]["image"])
        assert not np.array_equal(got[0][0]["image"], ref["image"])
        action = np.full(one.action_dim, 0.5, np.float32)
        for _ in range(3):
            (obs, reward, *_), = one.step({0: action}).values()
            steps = pool.step({1: action, 2: -action})  # a subset of the envs
        assert set(steps) == {1, 2}
        assert np.array_equal(steps[1][0]["image"], obs["image"]) and steps[1][1] == reward
        assert steps[1][0]["image"].flags.owndata, "frames are copied out of shared memory"
    finally:
        one.close()
        pool.close()
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")], "no worker outlives close()"


def test_env_pool_names_the_env_that_failed_or_died():
    from agents.envs import EnvOptions
    from agents.envs.parallel import EnvPool, EnvSpec, EnvWorkerError

    pool = EnvPool(EnvSpec("dmc/cartpole-swingup", EnvOptions(64, 20, 2, "0")), 2)
    pids = pool.pids
    try:
        pool.reset({0: 1, 1: 2})
        with pytest.raises(EnvWorkerError, match=r"env worker 1 \(dmc/cartpole-swingup\) failed"):
            pool.step({0: np.zeros(1, np.float32), 1: np.zeros(7, np.float32)})
        os.kill(pids[0], signal.SIGKILL)
        with pytest.raises(EnvWorkerError, match=r"env worker 0 .* died with exit code -9"):
            pool.step({0: np.zeros(1, np.float32)})
    finally:
        pool.close()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read()
