"""Meta-world (v3) from pixels: goal-observable tasks rendered from the `corner` camera; the
state is its 39-d observation. Success is Meta-world's own per-step flag."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from agents.envs.base import Obs, UnknownTaskError
from agents.envs.rendering import configure_rendering


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
