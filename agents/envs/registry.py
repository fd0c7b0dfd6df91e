"""The environment suites, one entry each: the one place a suite's facts live.

A task is `<suite>/<name>`. Each `Suite` says how to build and check its tasks, which tasks it
has (for "did you mean" and the docs), which camera `env.camera=corner` (the default) picks,
what `info["success"]` means, and which agent families can act in it. make_env, the config's
checks, `agents.train --help`, the README's and docs' suite tables read it from here
(tests/envs/test_registry.py checks them). Adding a suite: its module, and one `register` call
in agents/envs/suites.py (docs/layout.md "How to add a suite").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from agents.envs.base import UnknownTaskError


@dataclass(frozen=True)
class EnvOptions:
    """What every suite's constructor is given besides the task name (from the config's env
    section)."""

    size: int = 64
    episode_length: int = 500
    action_repeat: int = 1
    camera: str = "corner"
    render: str = "fast"


@dataclass(frozen=True)
class EnvSpec:
    """An environment: a task and its options. Plain data, so it pickles into an env worker
    process (agents/envs/parallel.py); make_env builds it."""

    task: str
    options: EnvOptions = field(default_factory=EnvOptions)

    @classmethod
    def of(cls, env: Any, **changes: Any) -> EnvSpec:
        """The spec of a config's env section (agents/config/schema.py EnvConfig), with
        `changes` to its options (e.g. action_repeat=1)."""
        options = EnvOptions(env.image_size, env.episode_length, env.action_repeat, env.camera,
                             env.render)
        return cls(env.task, replace(options, **changes))


class Score(NamedTuple):
    """A suite's evaluation score on [0, 1], for aggregating tasks: `metric` / `scale`."""

    metric: str  # the evaluation row's column: success, return
    scale: float  # the metric's natural maximum
    label: str  # what the score is, in words, for a figure's axis


@dataclass(frozen=True)
class Suite:
    name: str  # the task prefix: <name>/<task>
    summary: str  # one line, for the help text and the README's suite table
    pattern: str  # the task form, e.g. "dmc/<domain>-<task>"
    make: Callable[[str, EnvOptions], Any]  # (task name, options) -> an environment
    check: Callable[[str], None]  # UnknownTaskError for a name `make` would refuse
    tasks: Callable[[], Sequence[str]]  # its task names, for "did you mean" and the docs
    families: tuple[str, ...]  # the agent families (model.agent) that can act in it
    success: str  # what info["success"] means, in words
    actions: str = "continuous"  # or "discrete": the action space, in words
    camera: str = ""  # the camera env.camera=corner picks; "" where there is no camera
    cameras: Callable[[str], Sequence[str] | None] | None = None  # a task's camera names
    camera_by_index: bool = False  # cameras may also be named by their index (DMC)
    describe: Callable[[str], str | None] | None = None  # what a task shows, for reports
    # Metrics of a finished episode beyond return, success and length, from its arrays
    # (Crafter: the achievements it unlocked); logged on every episode and evaluation row.
    episode_metrics: Callable[[dict], dict[str, float]] | None = None
    # Its evaluation score on [0, 1] (analyses/summary.py); None where the suite is scored its
    # own way (Atari: human-normalised; Crafter: the Crafter score).
    score: Score | None = None
    module: str = ""  # where its code lives, for the docs
    # Whether info["success"] is a real flag: where it is not (DMC, Atari, Crafter: always 0),
    # episode and evaluation rows leave `success` out, and the dashboards show no eval/success.
    success_flag: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.name}/"


SUITES: dict[str, Suite] = {}


def register(suite: Suite) -> Suite:
    """Add a suite (a new name, or the same entry again)."""
    if suite.name in SUITES and SUITES[suite.name] is not suite:
        raise ValueError(f"suite {suite.name!r} is registered already")
    SUITES[suite.name] = suite
    return suite


def suite_names() -> str:
    """"metaworld/, dmc/ ... or crafter/": the prefixes, for messages and help texts."""
    names = [s.prefix for s in SUITES.values()]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def has_success(task: str) -> bool:
    """Whether `task`'s rows carry a success column (its suite's `success_flag`; a task of no
    known suite keeps it)."""
    suite = SUITES.get(task.partition("/")[0])
    return suite is None or suite.success_flag


def get_suite(task: str) -> Suite:
    """The suite of `task` (`<suite>/<name>`); UnknownTaskError for an unknown suite."""
    suite = SUITES.get(task.partition("/")[0])
    if suite is None:
        raise UnknownTaskError(f"unknown suite in task {task!r}: use {suite_names()}")
    return suite
