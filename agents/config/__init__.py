"""Run configuration: nested dataclasses, named presets and `key=value` overrides.

A config is fully resolved before anything runs, so a bad override fails fast (exit 2 in the
CLI) and the saved config.json describes the run exactly. The rooms:

- schema.py: the dataclasses and their defaults, the known names, ConfigError;
- presets.py: paper / gpu / quick / smoke and the per-suite paper configs; `make_config`;
- parsing.py: `key=value` overrides, and a Config rebuilt from config.json;
- validation.py: whole-config checks (one line each);
- identity.py: which fields make a run what it is (run ids);
- weightings.py: the loss weightings' registry (name, doc, paper, fields, logs, kind);
- families.py: the agent families' registry (agent class, defaults, checks, offline).
"""

from agents.config.families import FAMILIES, PAPER_V3, Family
from agents.config.families import register as register_family
from agents.config.identity import EXECUTION_KEYS, LATER_KEYS, identity
from agents.config.parsing import apply_overrides, config_from_dict, flag_overrides
from agents.config.presets import (
    CHOPPER_COMMAND_FRAMES,
    GPU,
    PAPER_ATARI,
    PAPER_CRAFTER,
    PAPER_DMC,
    PAPER_METAWORLD,
    PRESETS,
    QUICK,
    SMOKE,
    SMOKE_ATARI,
    make_config,
)
from agents.config.schema import (
    INIT_SCHEMES,
    LOG_EXTRAS,
    LOG_OUTPUTS,
    PRECISIONS,
    BehaviourConfig,
    Config,
    ConfigError,
    EnvConfig,
    LogConfig,
    ModelConfig,
    OfflineConfig,
    ReplayConfig,
    TrainConfig,
    WeightingConfig,
)
from agents.config.validation import check_outputs, did_you_mean, suite_of, validate
from agents.config.weightings import ARENA as ARENA_WEIGHTINGS
from agents.config.weightings import REGISTRY as WEIGHTINGS_REGISTRY
from agents.config.weightings import WeightingInfo

__all__ = [
    "ARENA_WEIGHTINGS", "CHOPPER_COMMAND_FRAMES", "EXECUTION_KEYS", "FAMILIES", "Family", "GPU",
    "INIT_SCHEMES", "LATER_KEYS", "LOG_EXTRAS", "LOG_OUTPUTS", "PAPER_ATARI", "PAPER_CRAFTER",
    "PAPER_DMC",
    "PAPER_METAWORLD", "PAPER_V3", "PRECISIONS", "PRESETS", "QUICK", "SMOKE", "SMOKE_ATARI",
    "WEIGHTINGS_REGISTRY", "WeightingInfo",
    "BehaviourConfig", "Config", "ConfigError", "EnvConfig", "LogConfig", "ModelConfig",
    "OfflineConfig", "ReplayConfig", "TrainConfig", "WeightingConfig", "apply_overrides",
    "check_outputs", "config_from_dict", "did_you_mean", "flag_overrides", "identity",
    "make_config",
    "register_family", "suite_of", "validate",
]
