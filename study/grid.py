"""Study spec -> grid of runs, each with a fully resolved config and a stable id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from agents.config import Config, ConfigError, identity, make_config
from study.specs import STUDIES, Study


@dataclass(frozen=True)
class Run:
    study: str
    label: str  # the weighting's label in the study, e.g. "w_r=100"
    config: Config

    @property
    def id(self) -> str:
        return run_id(self.config)

    @property
    def task(self) -> str:
        return self.config.env.task

    @property
    def seed(self) -> int:
        return self.config.train.seed


def run_id(cfg: Config) -> str:
    blob = json.dumps(identity(cfg), sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    return STUDIES[name]


def expand(study: str, preset: str = "quick", seeds: int | None = None,
           tasks: list[str] | None = None, overrides: list[str] | None = None) -> list[Run]:
    """The study's grid (task x weighting x seed), configs resolved and validated."""
    spec = get_study(study)
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    base = [f"{k}={v}" for k, v in spec.overrides.get(preset, {}).items()]
    config_preset = spec.config_preset(preset)
    if tasks:
        for task in tasks:
            make_config(config_preset, task, [*base, *(overrides or [])])  # validates the task
    n_seeds = seeds or spec.seeds.get(preset, 3)
    runs = []
    for task in tasks or spec.tasks_for(preset):
        for label, name, params in spec.weightings:
            for seed in range(n_seeds):
                sets = [*base, f"weighting.name={name}", f"train.seed={seed}",
                        *(f"weighting.{k}={v}" for k, v in params.items()), *(overrides or [])]
                runs.append(Run(study, label, make_config(config_preset, task, sets)))
    return runs
