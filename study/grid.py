"""Study spec -> grid of runs, each with a fully resolved config and a stable id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agents.config import Config, ConfigError, did_you_mean, identity, make_config
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


def run_columns(tasks: Iterable[str], labels: Iterable[str]) -> Callable[..., str]:
    """The columns every table of a study's runs starts with (study.run's grid, study.status):
    run id, task, weighting, seed, wide enough for the longest task and label given. Returns
    (run id, task, label, seed) -> that line's start; the caller adds its own columns."""
    t = max([28, *map(len, tasks)])  # dmc_remastered/... names are long
    w = max([20, *map(len, labels)])
    return lambda run_id, task, label, seed: (
        f"{run_id:<13} {task:<{t}} {label:<{w}} {seed:>4}  ")


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}"
                          f"{did_you_mean(name, STUDIES)}")
    return STUDIES[name]


# What a study varies or fixes by design, and how to choose it instead of `--set`: a
# `--set` on one of these would relabel runs (every cell of a weighting axis made one run, or
# "seeds" that are all seed 0) rather than configure them.
AXES = {"weighting.": ("weighting", "the study's weightings are its comparison; choose a "
                                    "study whose grid has the weights you want"),
        "train.seed": ("seed", "choose how many with --seeds"),
        "env.task": ("task", "choose them with --tasks"),
        "model.agent": ("agent", "the study's agent is part of its design")}


def check_axes(study: str, overrides: list[str]) -> None:
    """`--set` may configure every run of a study, not change what the study varies."""
    for item in overrides:
        key = item.partition("=")[0].strip()
        for prefix, (axis, instead) in AXES.items():
            if key == prefix or (prefix.endswith(".") and key.startswith(prefix)):
                raise ConfigError(f"--set {key}: {key} is on the {axis} axis of study "
                                  f"{study!r}, which the study sets for each run; {instead}")


def check_distinct(runs: list[Run]) -> None:
    """Every cell of a grid is its own run: two cells with one run id are one run under two
    names, which a report would compare with itself."""
    seen: dict[str, Run] = {}
    for run in runs:
        other = seen.setdefault(run.id, run)
        if other is not run:
            raise ConfigError(
                f"cells {other.task} {other.label} seed {other.seed} and {run.task} "
                f"{run.label} seed {run.seed} of study {run.study!r} resolve to the same run "
                f"({run.id}); nothing was launched")


def expand(study: str, preset: str = "quick", seeds: int | None = None,
           tasks: list[str] | None = None, overrides: list[str] | None = None) -> list[Run]:
    """The study's grid (task x weighting x seed), configs resolved and validated: `--set`
    leaves the study's axes alone, and every cell is a distinct run."""
    spec = get_study(study)
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    check_axes(study, overrides or [])
    repeated = sorted({t for t in tasks or [] if (tasks or []).count(t) > 1})
    if repeated:
        raise ConfigError(f"--tasks names {', '.join(repeated)} more than once: its cells "
                          f"would be the same runs twice")
    base = [f"{k}={v}" for k, v in spec.overrides.get(preset, {}).items()]
    config_preset = spec.config_preset(preset)
    if tasks:
        for task in tasks:
            make_config(config_preset, task, [*base, *(overrides or [])])  # validates the task
    n_seeds = seeds or spec.seeds.get(preset, 3)
    runs = []
    for task in tasks or spec.tasks_for(preset):
        for label, name, params in spec.weightings_for(preset):
            for seed in range(n_seeds):
                sets = [*base, f"weighting.name={name}", f"train.seed={seed}",
                        *(f"{k}={v}" if "." in k else f"weighting.{k}={v}"
                          for k, v in params.items()), *(overrides or [])]
                runs.append(Run(study, label, make_config(config_preset, task, sets)))
    check_distinct(runs)
    return runs
