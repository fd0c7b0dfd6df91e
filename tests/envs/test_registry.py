"""The suite registry is the one place a suite's facts live: a toy suite registered here (its
whole code is this file) is built, checked, suggested, validated and listed in the help like
the six real ones."""

from __future__ import annotations

import numpy as np
import pytest

from agents.envs import SUITES, EnvOptions, Score, Suite, UnknownTaskError, register


class ToyEnv:
    """A one-number world: the image is its step count, the episode ends after 3 steps."""

    discrete = False
    action_dim, state_dim = 2, 1

    def __init__(self, name: str, options: EnvOptions):
        self.name, self.size, self.t = name, options.size, 0

    def _obs(self):
        return {"image": np.full((self.size, self.size, 3), self.t, np.uint8),
                "state": np.array([self.t], np.float32)}

    def reset(self, seed: int):
        self.t = 0
        return self._obs(), {"success": 0.0}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, False, self.t >= 3, {"success": float(self.t >= 3)}

    def close(self) -> None:
        pass


def _check(name: str) -> None:
    if name not in ("one", "two"):
        raise UnknownTaskError(f"unknown toy task {name!r}")


TOY = Suite("toy", "a test's toy suite", "toy/<one|two>", ToyEnv, _check,
            lambda: ("one", "two"), ("dreamerv2",), "the third step", module=__file__,
            episode_metrics=lambda ep: {"toy_last": float(ep["state"][-1][0])},
            score=Score("return", 3.0, "return / 3"))


@pytest.fixture
def toy():
    register(TOY)
    try:
        yield TOY
    finally:
        SUITES.pop("toy")


def test_a_toy_suite_takes_one_entry(toy):
    from agents.config import ConfigError, make_config
    from agents.envs import check_task, known_tasks, make_env
    from agents.train import agent_help, task_help

    env = make_env("toy/one", size=8)
    obs, _ = env.reset(0)
    assert obs["image"].shape == (8, 8, 3)
    assert env.step(np.zeros(2))[0]["state"][0] == 1
    check_task("toy/two")
    with pytest.raises(UnknownTaskError, match="unknown toy task"):
        check_task("toy/three")
    assert {"toy/one", "toy/two"} <= set(known_tasks())
    cfg = make_config("smoke", "toy/one")
    assert cfg.env.task == "toy/one"
    with pytest.raises(ConfigError, match="did you mean 'toy/one'"):
        make_config("smoke", "toy/onw")
    with pytest.raises(ConfigError, match="toy/ tasks have continuous actions"):
        make_config("smoke", "toy/one", ["model.agent=dreamerv3"])
    assert "toy/<one|two>" in task_help() and "toy/" in agent_help()
    from agents.data.episodes import summary

    episode = {"reward": np.ones(4), "success": np.zeros(4), "state": np.arange(4.0)[:, None]}
    assert summary(episode, 1, "toy/one")["toy_last"] == 3.0  # the suite's own episode metric
    import pandas as pd

    from analyses.load import RUN_COLUMNS
    from analyses.summary import eval_scores, score_label

    rows = pd.DataFrame([{**dict.fromkeys(RUN_COLUMNS, ""), "task": "toy/one", "step": 3,
                          "split": "eval", "metric": "return", "value": 1.5}])
    scores = eval_scores(rows)
    assert scores["value"].tolist() == [0.5] and score_label(scores) == "return / 3"


def test_a_suite_name_is_registered_once(toy):
    with pytest.raises(ValueError, match="registered already"):
        register(Suite("toy", "another", "toy/x", ToyEnv, _check, tuple, ("dreamerv2",), ""))


def test_every_suite_is_complete():
    """Each real suite names its tasks, registered families, and a module that exists."""
    from pathlib import Path

    from agents.config import FAMILIES

    root = Path(__file__).resolve().parents[2]
    assert list(SUITES) == ["metaworld", "dmc", "dmc_distracted", "dmc_remastered", "atari",
                            "crafter"]
    for suite in SUITES.values():
        assert set(suite.families) <= set(FAMILIES) and suite.families, suite.name
        assert (root / suite.module).is_file(), suite.module
        assert suite.pattern.startswith(suite.prefix) and suite.summary and suite.success
        if suite.name != "metaworld":  # Meta-world's list needs the package; it is optional
            assert list(suite.tasks()), suite.name
