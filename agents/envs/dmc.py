"""The DeepMind Control suite from pixels, with action repeat; the state is the physics state.
DMC has no success notion (success is always 0). The distracted and remastered suites restyle
these tasks' models."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.envs.base import Obs, UnknownTaskError
from agents.envs.rendering import configure_rendering

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
