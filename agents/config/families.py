"""The agent families' registry, one entry each: the one place a family's facts live.

`model.agent` names a family. Its entry says where its agent class is (imported only when
agents/families.py `make_agent` builds one, so the config stays free of torch), the defaults
it starts from before the preset, its own config checks, and whether `train.mode=offline` can
run it. The validation, `make_config`, `make_agent` and `agents.train --help` read it from
here (tests/config/test_families.py registers a toy family in the test alone). Which suites a
family acts in is the suites' fact: agents/envs/registry.py `Suite.families`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.config.schema import Config, ConfigError


@dataclass(frozen=True)
class Family:
    name: str  # model.agent
    agent: str  # "module:Class": Class(cfg, action_dim, device) is the agent
    # Config overrides a run of this family starts from, before the preset and the suite's
    # paper settings (DreamerV3's own hyperparameters).
    defaults: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[Config], None] | None = None  # ConfigError for a config it cannot run
    offline: bool = False  # train.mode=offline can train its world model


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family (a new name, or the same entry again)."""
    if family.name in FAMILIES and FAMILIES[family.name] is not family:
        raise ValueError(f"agent family {family.name!r} is registered already")
    FAMILIES[family.name] = family
    return family


# DreamerV3, the official `atari100k` config of the HarmonyDream code (dreamerv3-jax,
# configs.yaml): deter 512, CNN depth 32, 2 x 512 MLPs, batch 16 x 64, model Adam lr 1e-4 eps
# 1e-8 clip 1000, actor/critic lr 3e-5 eps 1e-5 clip 100, horizon 333 (discount 1 - 1/333),
# lambda 0.95, entropy 3e-4, slow critic 0.02 per update, fp32.
PAPER_V3 = {
    "replay.batch_size": 16,
    "replay.seq_len": 64,
    "replay.prioritize_ends": False,
    "replay.ongoing": True,
    "replay.stream": True,
    "model.deter": 512,
    "model.hidden": 512,
    "model.depth": 32,
    "model.mlp_layers": 2,
    "model.mlp_units": 512,
    "model.lr": 1e-4,
    "model.eps": 1e-8,
    "model.clip": 1000.0,
    "model.weight_decay": 0.0,
    "model.init": "dreamerv3",
    "behaviour.discount": 1 - 1 / 333,
    "behaviour.actor_lr": 3e-5,
    "behaviour.critic_lr": 3e-5,
    "behaviour.weight_decay": 0.0,
    "behaviour.actor_entropy": 3e-4,
    "behaviour.target_every": 1,
    "behaviour.target_fraction": 0.02,
    "behaviour.eval_greedy": False,
}


def _check_v2(cfg: Config) -> None:
    """The decoder's transposed convolutions must land exactly on the image size."""
    size = 1
    for k in cfg.model.dec_kernels:
        size = (size - 1) * 2 + k
    if size != cfg.env.image_size:
        raise ConfigError(f"model.dec_kernels {cfg.model.dec_kernels} produce {size}px images, "
                          f"env.image_size is {cfg.env.image_size}")


def _check_v3(cfg: Config) -> None:
    if cfg.env.image_size not in (32, 64, 128):
        raise ConfigError("dreamerv3 needs env.image_size 32, 64 or 128")


# The first is the default (schema.py's ModelConfig.agent).
register(Family("dreamerv2", "agents.dreamerv2.agent:Agent", check=_check_v2, offline=True))
register(Family("dreamerv3", "agents.dreamerv3.agent:Agent", defaults=PAPER_V3, check=_check_v3))
