"""A loss weighting takes one entry in each of two files: its metadata in the torch-free
registry (agents/config/weightings.py) and its builder in agents/weighting.py. A toy
weighting registered here alone is validated, suggested, listed in `agents.train --help`,
built, trained with, and logs the columns its registry entry names."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents import weighting
from agents.config import WEIGHTINGS_REGISTRY, ConfigError, WeightingInfo, make_config

TOY = WeightingInfo("toy_half", "every loss at half weight", params=("w_d",))


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(WEIGHTINGS_REGISTRY, TOY.name, TOY)
    monkeypatch.setitem(weighting.WEIGHTINGS, TOY.name,
                        lambda cfg: weighting.Fixed(0.5, 0.5, 0.5 * cfg.w_d))
    return TOY


def test_a_toy_weighting_takes_one_entry_in_each_of_two_files(toy, capsys):
    from agents.bench import fake_batch
    from agents.families import make_agent
    from agents.train import parse_args

    with pytest.raises(ConfigError, match="did you mean 'toy_half'"):
        make_config("smoke", "metaworld/lever-pull", ["weighting.name=toy-half"])
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    assert "toy_half" in capsys.readouterr().out

    cfg = make_config("smoke", "metaworld/lever-pull",
                      ["weighting.name=toy_half", "weighting.w_d=2", "replay.batch_size=2",
                       "replay.seq_len=4"])
    torch.manual_seed(0)
    agent = make_agent(cfg, 4, torch.device("cpu"))
    logs = agent.update(fake_batch(cfg, 4, np.random.default_rng(0)))
    for key in {p.replace("*", k) for p in toy.logs for k in weighting.LOSSES}:
        assert key in logs and math.isfinite(float(logs[key])), key
    assert [float(logs[f"weight_{k}"]) for k in weighting.LOSSES] == [0.5, 0.5, 1.0]
