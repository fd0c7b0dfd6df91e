"""The family registry is the one place an agent family's facts live: a toy family registered
here (its whole code is this file), with a toy suite it acts in, is validated, suggested,
listed in the help and built like the two real ones."""

from __future__ import annotations

import pytest
import torch

from agents.config import FAMILIES, ConfigError, Family, make_config, register_family
from agents.envs import SUITES, Suite, register


class ToyAgent:
    """What make_agent builds: here, only its arguments."""

    def __init__(self, cfg, action_dim: int, device: torch.device):
        self.cfg, self.action_dim, self.device = cfg, action_dim, device


def _check(cfg) -> None:
    if cfg.env.image_size != 64:
        raise ConfigError("the toy family needs env.image_size 64")


TOY = Family("toy", f"{__name__}:ToyAgent", defaults={"model.unimix": 0.02}, check=_check)
TOYLAND = Suite("toyland", "a test's toy suite", "toyland/one", lambda name, options: None,
                lambda name: None, lambda: ("one",), ("toy",), "never")


@pytest.fixture
def toy():
    register_family(TOY)
    register(TOYLAND)
    try:
        yield TOY
    finally:
        FAMILIES.pop("toy")
        SUITES.pop("toyland")


def test_a_toy_family_takes_one_entry(toy):
    from agents.families import make_agent
    from agents.train import agent_help

    cfg = make_config("smoke", "toyland/one", ["model.agent=toy"])
    assert cfg.model.agent == "toy" and cfg.model.unimix == 0.02  # its defaults, before the preset
    agent = make_agent(cfg, 3, torch.device("cpu"))
    assert isinstance(agent, ToyAgent) and agent.action_dim == 3
    with pytest.raises(ConfigError, match="needs env.image_size 64"):  # its own check
        make_config("smoke", "toyland/one", ["model.agent=toy", "env.image_size=32"])
    with pytest.raises(ConfigError, match="choose from dreamerv2, dreamerv3, toy; did you "
                                          "mean 'toy'"):
        make_config("smoke", "toyland/one", ["model.agent=toyy"])
    with pytest.raises(ConfigError, match="the toy agent here acts in toyland/ tasks"):
        make_config("smoke", "metaworld/lever-pull", ["model.agent=toy"])
    with pytest.raises(ConfigError, match="the dreamerv2 agent here acts in metaworld/"):
        make_config("smoke", "toyland/one")  # the suite says which families act in it
    with pytest.raises(ConfigError, match="train.mode=offline runs the dreamerv2 agent"):
        make_config("smoke", "toyland/one", ["model.agent=toy", "train.mode=offline"])
    assert "toy: toyland/" in agent_help()


def test_a_family_name_is_registered_once(toy):
    with pytest.raises(ValueError, match="registered already"):
        register_family(Family("toy", "somewhere:Else"))


def test_the_real_families():
    """Both real families build, in the registry's order (the first is the default)."""
    from agents.config.schema import ModelConfig

    assert list(FAMILIES) == ["dreamerv2", "dreamerv3"]
    assert ModelConfig().agent == next(iter(FAMILIES))
    import importlib

    for family in FAMILIES.values():
        module, _, name = family.agent.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), family.name
