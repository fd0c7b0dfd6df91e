"""Real MuJoCo rendering of Meta-world and DMC: shapes, dtypes, upright non-blank frames, state."""

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
        make_env("atari/pong")
