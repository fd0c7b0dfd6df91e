"""Pixel environments behind one small gymnasium-style API: the six suites' registry entries
(agents/envs/registry.py) and a task name (`<suite>/<task>`) to its suite's environment,
checks and camera names.

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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agents.envs.base import (  # noqa: F401  (re-exported)
    Obs,
    UnknownCameraError,
    UnknownTaskError,
)
from agents.envs.dmc import DMC_TASKS, DMCEnv
from agents.envs.metaworld import MetaWorldEnv, metaworld_task_names
from agents.envs.registry import (
    SUITES,
    EnvOptions,
    EnvSpec,
    Score,
    Suite,
    get_suite,
    register,
)


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



def _metaworld_cameras(name: str) -> tuple[str, ...] | None:
    """Every Meta-world model takes its cameras from the one base file it includes: read
    there, without importing metaworld (which loads MuJoCo)."""
    import importlib.util

    if name not in metaworld_task_names():
        return None
    spec = importlib.util.find_spec("metaworld")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "assets" / "objects" / "assets" / "xyz_base.xml"
    return tuple(_xml_cameras(path, path.parent))


def _dmc_cameras(name: str) -> tuple[str, ...] | None:
    import importlib.util

    spec = importlib.util.find_spec("dm_control")
    root = Path(next(iter(spec.submodule_search_locations))) / "suite"
    return tuple(_xml_cameras(root / f"{DMC_TASKS[name.partition('?')[0]][0]}.xml", root))


def _check_metaworld(name: str) -> None:
    if name not in metaworld_task_names():
        raise UnknownTaskError(f"unknown Meta-world task {name!r} (e.g. lever-pull, hammer)")


def _check_dmc(name: str) -> None:
    if name not in DMC_TASKS:
        raise UnknownTaskError(f"unknown DMC task {name!r}; known: {', '.join(DMC_TASKS)}")


def _make_distracted(name: str, o: EnvOptions):
    from agents.envs.distracted import Distracted, distracted_model, parse_task

    base, bg = parse_task(name)
    _check_dmc(base)
    env = DMCEnv(base, o.size, o.episode_length, o.camera, o.render, o.action_repeat,
                 model=distracted_model(DMC_TASKS[base][0]))
    return Distracted(env, bg, o.size)


def _check_distracted(name: str) -> None:
    from agents.envs.distracted import check_background, parse_task

    base, bg = parse_task(name)
    _check_dmc(base)
    try:
        check_background(bg)  # a video folder that is missing, empty or unreadable
    except ValueError as exc:
        raise UnknownTaskError(str(exc)) from None


def _make_remastered(name: str, o: EnvOptions):
    from agents.envs.remastered import Remastered, parse_task, remastered_model

    base, remaster = parse_task(name)
    domain = DMC_TASKS[base][0]
    env = DMCEnv(base, o.size, o.episode_length, o.camera, o.render, o.action_repeat,
                 model=remastered_model(domain))
    return Remastered(env, domain, remaster)


def _check_remastered(name: str) -> None:
    from agents.envs.remastered import check_remaster, parse_task

    _, remaster = parse_task(name)
    try:
        check_remaster(remaster)  # a texture folder that is missing or has no images
    except ValueError as exc:
        raise UnknownTaskError(str(exc)) from None


def _remastered_tasks() -> list[str]:
    from agents.envs.remastered import remastered_tasks

    return remastered_tasks()


def _describe(module: str) -> Callable[[str], str | None]:
    def describe(task: str) -> str | None:
        import importlib

        return importlib.import_module(module).describe(task)
    return describe


def _make_atari(name: str, o: EnvOptions):
    from agents.envs.atari import AtariEnv

    return AtariEnv(name, o.size, o.episode_length, o.action_repeat)


def _check_atari(name: str) -> None:
    from agents.envs.atari import check_game

    check_game(name)


def _make_crafter(name: str, o: EnvOptions):
    from agents.envs.crafter import CrafterEnv

    return CrafterEnv(name, o.size, o.episode_length)


def _check_crafter(name: str) -> None:
    from agents.envs.crafter import check_task

    check_task(name)


def _atari_games() -> tuple[str, ...]:
    from agents.envs.atari import ATARI100K

    return ATARI100K


def _crafter_achievements(episode: dict) -> dict[str, float]:
    from agents.envs.crafter import episode_achievements

    return episode_achievements(episode["state"][-1])


def _crafter_tasks() -> tuple[str, ...]:
    from agents.envs.crafter import TASKS

    return TASKS


CONTINUOUS = ("dreamerv2",)  # continuous actions: DreamerV2 (the paper's agent)
DISCRETE = ("dreamerv3",)  # discrete (one-hot) actions: the DreamerV3 agent
SUCCESS_RATE = Score("success", 1.0, "success rate")
DMC_RETURN = Score("return", 1000.0, "return / 1000")  # every DMC task's return is in 0..1000
register(Suite(
    "metaworld", "Meta-world v3 manipulation from pixels", "metaworld/<task>",
    lambda name, o: MetaWorldEnv(name, o.size, o.episode_length, o.camera, o.render,
                                 o.action_repeat),
    _check_metaworld, metaworld_task_names, CONTINUOUS,
    "Meta-world's per-step success flag", camera="corner", cameras=_metaworld_cameras,
    score=SUCCESS_RATE, success_flag=True,
    module="agents/envs/metaworld.py"))
register(Suite(
    "dmc", "DeepMind Control suite from pixels", "dmc/<domain>-<task>",
    lambda name, o: DMCEnv(name, o.size, o.episode_length, o.camera, o.render,
                           o.action_repeat),
    _check_dmc, lambda: list(DMC_TASKS), CONTINUOUS, "none (return only)", camera="0",
    cameras=_dmc_cameras, camera_by_index=True, score=DMC_RETURN, module="agents/envs/dmc.py"))
register(Suite(
    "dmc_distracted", "DMC with distracting video backgrounds (natural-background DMC)",
    "dmc_distracted/<domain>-<task>[?bg=...]", _make_distracted, _check_distracted,
    lambda: list(DMC_TASKS), CONTINUOUS, "none (return only)", camera="0",
    cameras=_dmc_cameras, camera_by_index=True, describe=_describe("agents.envs.distracted"),
    score=DMC_RETURN, module="agents/envs/distracted.py"))
register(Suite(
    "dmc_remastered", "DMC Remastered: visuals redrawn every episode",
    "dmc_remastered/<domain>-<task>[?textures=DIR]", _make_remastered, _check_remastered,
    _remastered_tasks, CONTINUOUS, "none (return only)", camera="0", cameras=_dmc_cameras,
    camera_by_index=True, describe=_describe("agents.envs.remastered"), score=DMC_RETURN,
    module="agents/envs/remastered.py"))
register(Suite(
    "atari", "Atari 100K through ale-py", "atari/<game>", _make_atari, _check_atari,
    _atari_games, DISCRETE, "none (return only; scored against human and random)",
    actions="discrete", module="agents/envs/atari.py"))
register(Suite(
    "crafter", "Crafter, the open-world stand-in for Minecraft", "crafter/reward",
    _make_crafter, _check_crafter, _crafter_tasks, DISCRETE,
    "achievements unlocked per episode (success rates, Crafter score)", actions="discrete",
    episode_metrics=_crafter_achievements, module="agents/envs/crafter.py"))


def make_env(spec: EnvSpec | str, size: int = 64, episode_length: int = 500,
             action_repeat: int = 1, camera: str = "corner", render: str = "fast"):
    """Build the environment `spec` describes (`<suite>/<name>` and its options; the suites:
    agents/envs/registry.py). A task name with its options given one by one is the short
    form, for scripts and tests."""
    if isinstance(spec, str):
        spec = EnvSpec(spec, EnvOptions(size, episode_length, action_repeat, camera, render))
    suite, options = get_suite(spec.task), spec.options
    if options.camera == "corner" and suite.camera:
        options = replace(options, camera=suite.camera)
    return suite.make(spec.task.partition("/")[2], options)


def describe_task(task: str) -> str | None:
    """What a task shows besides the task itself, in words, for reports (it says what stands
    in for the paper's files: distracted, remastered); None for the other suites."""
    suite = SUITES.get(task.partition("/")[0])
    return suite.describe(task) if suite is not None and suite.describe else None


def check_task(task: str) -> None:
    """Raise UnknownTaskError for a task name that make_env would reject (without building it)."""
    get_suite(task).check(task.partition("/")[2])


def known_tasks() -> list[str]:
    """Every task name make_env accepts (Atari: the Atari 100K games), for "did you mean"."""
    return [f"{s.name}/{n}" for s in SUITES.values() for n in s.tasks()]


@functools.cache
def model_cameras(task: str) -> tuple[str, ...] | None:
    """The camera names of a task's model, in id order, read from its XML (a few ms, cached per
    task; building the model would compile meshes for a second). None where the task has no
    camera to choose (Atari) or its model file cannot be found."""
    suite = SUITES.get(task.partition("/")[0])
    if suite is None or suite.cameras is None:
        return None
    try:
        found = suite.cameras(task.partition("/")[2])
    except (KeyError, OSError, AttributeError, TypeError, StopIteration, ET.ParseError):
        return None
    return None if found is None else tuple(found)


def check_camera(task: str, camera: str) -> None:
    """Raise UnknownCameraError for a camera the task's model lacks (Meta-world: a camera
    name; DMC: a camera index or name, "corner" standing for camera 0 as in make_env)."""
    names = model_cameras(task)
    if names is None:
        return
    suite = get_suite(task)
    choices = [n for n in names if n]
    if suite.camera_by_index:
        choices = [str(i) for i in range(len(names))] + choices
        if camera == "corner" and names:
            return
    if camera in choices:
        return
    import difflib

    close = difflib.get_close_matches(camera, choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownCameraError(f"unknown camera {camera!r} for {task}; its model has "
                             f"{', '.join(choices) or 'no camera'}{hint}")
