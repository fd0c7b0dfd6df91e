"""Pixel environments behind one small gymnasium-style API: a task name (`<suite>/<task>`)
to its suite's environment, checks and camera names.

`reset(seed) -> (obs, info)` and `step(action) -> (obs, reward, terminated, truncated, info)`,
with `obs = {"image": uint8 HxWx3, "state": float32 vector}`. The state is the true simulator
state (Meta-world's 39-d observation, DMC's physics state), recorded for Finding 2's probe.
Every reset takes an explicit seed so a resumed run can replay the same episode schedule
without pickling simulator state.
"""

from __future__ import annotations

# isort: off
from agents.envs.rendering import RENDER, configure_rendering  # noqa: F401  (first: MUJOCO_GL)
# isort: on
import functools
import xml.etree.ElementTree as ET
from pathlib import Path

from agents.envs.base import (  # noqa: F401  (re-exported)
    Obs,
    UnknownCameraError,
    UnknownTaskError,
)
from agents.envs.dmc import DMC_TASKS, DMCEnv
from agents.envs.metaworld import MetaWorldEnv, metaworld_task_names


def make_env(task: str, size: int = 64, episode_length: int = 500, action_repeat: int = 1,
             camera: str = "corner", render: str = "fast"):
    """Build an environment from `metaworld/<task>`, `dmc/<domain>-<task>`,
    `dmc_distracted/<domain>-<task>[?options]` (agents/envs/distracted.py),
    `dmc_remastered/<domain>-<task>[?options]` (agents/envs/remastered.py), `atari/<game>` or
    `crafter/reward` (agents/envs/crafter.py)."""
    suite, _, name = task.partition("/")
    if suite == "metaworld":
        return MetaWorldEnv(name, size, episode_length, camera, render, action_repeat)
    cam = camera if camera != "corner" else "0"  # DMC suites: "corner" stands for camera 0
    if suite == "dmc":
        return DMCEnv(name, size, episode_length, cam, render, action_repeat)
    if suite == "dmc_distracted":
        from agents.envs.distracted import Distracted, distracted_model, parse_task

        base, bg = parse_task(name)
        check_task(f"dmc/{base}")
        env = DMCEnv(base, size, episode_length, cam, render, action_repeat,
                     model=distracted_model(DMC_TASKS[base][0]))
        return Distracted(env, bg, size)
    if suite == "dmc_remastered":
        from agents.envs.remastered import Remastered, parse_task, remastered_model

        base, remaster = parse_task(name)
        domain = DMC_TASKS[base][0]
        env = DMCEnv(base, size, episode_length, cam, render, action_repeat,
                     model=remastered_model(domain))
        return Remastered(env, domain, remaster)
    if suite == "atari":
        from agents.envs.atari import AtariEnv

        return AtariEnv(name, size, episode_length, action_repeat)
    if suite == "crafter":
        from agents.envs.crafter import CrafterEnv

        return CrafterEnv(name, size, episode_length)
    raise UnknownTaskError(f"unknown suite in task {task!r}: use {SUITE_NAMES}")


SUITE_NAMES = "metaworld/, dmc/, dmc_distracted/, dmc_remastered/, atari/ or crafter/"


def describe_task(task: str) -> str | None:
    """What a distracted or remastered task shows besides the task itself, in words, for
    reports (it says what stands in for the paper's files); None for the other suites."""
    suite = task.partition("/")[0]
    if suite == "dmc_distracted":
        from agents.envs import distracted

        return distracted.describe(task)
    if suite == "dmc_remastered":
        from agents.envs import remastered

        return remastered.describe(task)
    return None


def check_task(task: str) -> None:
    """Raise UnknownTaskError for a task name that make_env would reject (without building it)."""
    suite, _, name = task.partition("/")
    if suite == "metaworld":
        if name not in metaworld_task_names():
            raise UnknownTaskError(f"unknown Meta-world task {name!r} (e.g. lever-pull, hammer)")
    elif suite == "dmc":
        if name not in DMC_TASKS:
            raise UnknownTaskError(f"unknown DMC task {name!r}; known: {', '.join(DMC_TASKS)}")
    elif suite == "dmc_distracted":
        from agents.envs.distracted import check_background, parse_task

        base, bg = parse_task(name)
        check_task(f"dmc/{base}")
        try:
            check_background(bg)  # a video folder that is missing, empty or unreadable
        except ValueError as exc:
            raise UnknownTaskError(str(exc)) from None
    elif suite == "dmc_remastered":
        from agents.envs.remastered import check_remaster, parse_task

        _, remaster = parse_task(name)
        try:
            check_remaster(remaster)  # a texture folder that is missing or has no images
        except ValueError as exc:
            raise UnknownTaskError(str(exc)) from None
    elif suite == "atari":
        from agents.envs.atari import check_game

        check_game(name)
    elif suite == "crafter":
        from agents.envs.crafter import check_task as check_crafter

        check_crafter(name)
    else:
        raise UnknownTaskError(f"unknown suite in task {task!r}: use {SUITE_NAMES}")


def known_tasks() -> list[str]:
    """Every task name make_env accepts (Atari: the Atari 100K games), for "did you mean"."""
    from agents.envs.atari import ATARI100K
    from agents.envs.remastered import remastered_tasks

    return ([f"metaworld/{n}" for n in metaworld_task_names()]
            + [f"dmc/{n}" for n in DMC_TASKS] + [f"dmc_distracted/{n}" for n in DMC_TASKS]
            + [f"dmc_remastered/{n}" for n in remastered_tasks()]
            + [f"atari/{g}" for g in ATARI100K] + ["crafter/reward", "crafter/noreward"])


def _xml_cameras(path: Path, root: Path) -> list[str]:
    """The <camera> elements of a MuJoCo model file and the files it includes, in document
    order (MuJoCo's camera ids), unnamed ones as "". Defaults classes are not cameras."""
    out: list[str] = []

    def walk(element) -> None:
        for child in element:
            if child.tag == "include":
                name = child.get("file", "")
                here = path.parent / name
                out.extend(_xml_cameras(here if here.exists() else root / name, root))
            elif child.tag != "default":
                if child.tag == "camera":
                    out.append(child.get("name", ""))
                walk(child)

    walk(ET.parse(path).getroot())
    return out


@functools.cache
def model_cameras(task: str) -> tuple[str, ...] | None:
    """The camera names of a task's MuJoCo model, in id order, read from its XML (a few ms,
    cached per task; building the model would compile meshes for a second). None where the
    task has no camera to choose (Atari) or its model file cannot be found."""
    suite, _, name = task.partition("/")
    try:
        if suite == "metaworld":
            if name not in metaworld_task_names():
                return None
            # Every Meta-world model takes its cameras from the one base file it includes:
            # read there, without importing metaworld (which loads MuJoCo).
            import importlib.util

            spec = importlib.util.find_spec("metaworld")
            root = Path(next(iter(spec.submodule_search_locations)))
            path = root / "assets" / "objects" / "assets" / "xyz_base.xml"
            return tuple(_xml_cameras(path, path.parent))
        if suite in ("dmc", "dmc_distracted", "dmc_remastered"):
            name = name.partition("?")[0]
            import importlib.util

            spec = importlib.util.find_spec("dm_control")
            root = Path(next(iter(spec.submodule_search_locations))) / "suite"
            return tuple(_xml_cameras(root / f"{DMC_TASKS[name][0]}.xml", root))
    except (KeyError, OSError, AttributeError, TypeError, StopIteration, ET.ParseError):
        return None
    return None


def check_camera(task: str, camera: str) -> None:
    """Raise UnknownCameraError for a camera the task's model lacks (Meta-world: a camera
    name; DMC: a camera index or name, "corner" standing for camera 0 as in make_env)."""
    names = model_cameras(task)
    if names is None:
        return
    if task.startswith(("dmc/", "dmc_distracted/", "dmc_remastered/")):
        choices = [str(i) for i in range(len(names))] + [n for n in names if n]
        if camera == "corner" and names:
            return
    else:
        choices = [n for n in names if n]
    if camera in choices:
        return
    import difflib

    close = difflib.get_close_matches(camera, choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownCameraError(f"unknown camera {camera!r} for {task}; its model has "
                             f"{', '.join(choices) or 'no camera'}{hint}")
