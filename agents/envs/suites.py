"""Pixel environments: Meta-world and DMC vision tasks behind one small gymnasium-style API.

`reset(seed) -> (obs, info)` and `step(action) -> (obs, reward, terminated, truncated, info)`,
with `obs = {"image": uint8 HxWx3, "state": float32 vector}`. The state is the true simulator
state (Meta-world's 39-d observation, DMC's physics state), recorded for Finding 2's probe.
Every reset takes an explicit seed so a resumed run can replay the same episode schedule
without pickling simulator state.
"""

from __future__ import annotations

import os

# MuJoCo picks its GL backend at import time; EGL renders headless through Mesa on a CPU.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
# Mesa's llvmpipe renders a 64x64 frame faster in the calling thread than split over worker
# threads (measured ~1.3x Meta-world, ~1.6x DMC on 2 cores), and leaves the cores to torch.
os.environ.setdefault("LP_NUM_THREADS", "0")

import functools  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from agents.envs.base import (  # noqa: E402, F401  (re-exported)
    Obs,
    UnknownCameraError,
    UnknownTaskError,
)

DMC_TASKS = {
    "cartpole-swingup": ("cartpole", "swingup"),
    "cartpole-balance": ("cartpole", "balance"),
    "reacher-easy": ("reacher", "easy"),
    "reacher-hard": ("reacher", "hard"),
    "finger-spin": ("finger", "spin"),
    "finger-turn_easy": ("finger", "turn_easy"),
    "cheetah-run": ("cheetah", "run"),
    "walker-walk": ("walker", "walk"),
    "walker-run": ("walker", "run"),
    "hopper-hop": ("hopper", "hop"),
    "quadruped-run": ("quadruped", "run"),
    "pendulum-swingup": ("pendulum", "swingup"),
    "cup-catch": ("ball_in_cup", "catch"),
}


RENDER = ("fast", "light", "default")


def configure_rendering(model: Any, size: int, quality: str) -> None:
    """Set render options on the model before the first frame.

    light: an offscreen buffer that matches the output, a small shadow map, no multisampling.
    fast: light, plus no shadows and no reflections (each costs another scene pass) and
    coarser primitive shapes; every object the tasks need (lever, handle, hammer, nail, DMC
    bodies) stays visible.
    """
    if quality not in RENDER:
        raise ValueError(f"unknown render quality {quality!r}; choose from {', '.join(RENDER)}")
    if quality == "default":
        return
    model.vis.quality.shadowsize = 256
    model.vis.quality.offsamples = 0
    model.vis.global_.offwidth = size
    model.vis.global_.offheight = size
    if quality == "fast":
        model.light_castshadow[:] = 0
        model.mat_reflectance[:] = 0
        # Coarser spheres / capsules / cylinders (meshes are unaffected); invisible at 64x64.
        model.vis.quality.numslices = 12
        model.vis.quality.numstacks = 8


@functools.cache
def metaworld_task_names() -> list[str]:
    """Meta-world's v3 task names, read from its env_dict.py's list without importing it
    (that loads MuJoCo): a misspelt task is refused before a simulator loads."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("metaworld")
    if spec is not None and spec.submodule_search_locations:
        source = Path(list(spec.submodule_search_locations)[0]) / "env_dict.py"
        try:
            tree = ast.parse(source.read_text())
        except (OSError, SyntaxError):
            tree = ast.Module(body=[], type_ignores=[])
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    getattr(t, "id", None) == "ALL_V3_ENVIRONMENTS" for t in node.targets):
                names = [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)
                         and isinstance(c.value, str) and c.value.endswith("-v3")]
                if names:
                    return sorted(n.removesuffix("-v3") for n in names)
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS  # its layout changed: ask it

    return sorted(name.removesuffix("-v3") for name in ALL_V3_ENVIRONMENTS)


class MetaWorldEnv:
    """Goal-observable Meta-world task rendered from the `corner` camera.

    Goal and object positions are re-drawn at every reset from the reset seed; episodes run
    `episode_length` steps and do not stop on success; `info["success"]` is per step.
    """

    discrete = False

    def __init__(self, name: str, size: int = 64, episode_length: int = 500,
                 camera: str = "corner", render: str = "fast", action_repeat: int = 1):
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        key = f"{name}-v3"
        if key not in ALL_V3_ENVIRONMENTS:
            raise UnknownTaskError(f"unknown Meta-world task {name!r} (e.g. lever-pull, hammer)")
        env = ALL_V3_ENVIRONMENTS[key](render_mode="rgb_array", camera_name=camera,
                                       width=size, height=size)
        # What the package's goal-observable variant does, minus freezing the goal after the
        # first reset: we want new random positions every episode, drawn from env.np_random.
        env._partially_observable = False
        del env.sawyer_observation_space
        env._set_task_called = True
        env._freeze_rand_vec = False
        env.seeded_rand_vec = True
        configure_rendering(env.model, size, render)
        self._env = env
        self._size, self._camera = size, camera
        self._renderer = None  # MuJoCo's own renderer: less overhead than gymnasium's wrapper
        self.episode_length = min(episode_length, env.max_path_length)
        self.action_repeat = action_repeat
        self.action_dim = int(env.action_space.shape[0])
        self.state_dim = 39
        self._t = 0

    def _render(self) -> np.ndarray:
        import mujoco

        if self._renderer is None:
            self._renderer = mujoco.Renderer(self._env.model, self._size, self._size)
        self._renderer.update_scene(self._env.data, camera=self._camera)
        # Meta-world's camera poses render upside down; flip to upright.
        return np.ascontiguousarray(self._renderer.render()[::-1])

    def _obs(self, state: np.ndarray) -> Obs:
        return {"image": self._render(), "state": state.astype(np.float32)}

    def reset(self, seed: int) -> tuple[Obs, dict[str, Any]]:
        self._env.seed(int(seed) % 2**31)
        state, info = self._env.reset()
        self._t = 0
        return self._obs(state), {"success": 0.0}

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        reward, success = 0.0, 0.0
        for _ in range(self.action_repeat):
            state, r, _, _, info = self._env.step(action)
            reward += float(r)
            success = max(success, float(info["success"]))
            self._t += 1
            if self._t >= self.episode_length:
                break
        truncated = self._t >= self.episode_length
        return self._obs(state), reward, False, truncated, {"success": success}

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()


class DMCEnv:
    """dm_control suite task from pixels with action repeat; state = physics state."""

    discrete = False

    def __init__(self, name: str, size: int = 64, episode_length: int = 1000,
                 camera: str = "0", render: str = "fast", action_repeat: int = 2,
                 model: tuple[bytes, dict[str, bytes]] | None = None):
        from dm_control import suite

        if name not in DMC_TASKS:
            raise UnknownTaskError(f"unknown DMC task {name!r}; known: {', '.join(DMC_TASKS)}")
        domain, task = DMC_TASKS[name]
        self._env = suite.load(domain, task, task_kwargs={"random": 0})
        if model is not None:  # a changed model of the domain (xml, assets): distracted DMC
            self._env.physics.reload_from_xml_string(*model)
        configure_rendering(self._env.physics.model, size, render)
        self._size = size
        self.size, self.render = size, render  # what a restyled model is configured with
        self._camera = int(camera) if camera.isdigit() else camera
        self.episode_length = episode_length
        self.action_repeat = action_repeat
        self.action_dim = int(self._env.action_spec().shape[0])
        self.state_dim = int(self._env.physics.get_state().shape[0])
        self._t = 0

    @property
    def physics(self) -> Any:
        """The dm_control physics (remastered DMC changes its visual fields)."""
        return self._env.physics

    def _obs(self) -> Obs:
        physics = self._env.physics
        image = physics.render(self._size, self._size, camera_id=self._camera)
        return {"image": np.ascontiguousarray(image),
                "state": physics.get_state().astype(np.float32)}

    def reset(self, seed: int) -> tuple[Obs, dict[str, Any]]:
        # dm_control draws initial states from the task's RandomState; reseeding it per episode
        # keeps episodes reproducible from the reset seed alone.
        self._env.task._random = np.random.RandomState(int(seed) % 2**31)
        self._env.reset()
        self._t = 0
        return self._obs(), {"success": 0.0}

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        reward = 0.0
        for _ in range(self.action_repeat):
            ts = self._env.step(action)
            reward += float(ts.reward or 0.0)
            self._t += 1
            if ts.last() or self._t >= self.episode_length:
                break
        truncated = ts.last() or self._t >= self.episode_length
        return self._obs(), reward, False, truncated, {"success": 0.0}

    def close(self) -> None:
        self._env.close()


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
