"""Crafter (PyPI `crafter`), the open-world stand-in for the paper's Minecraft.

MineRL / MineDojo cannot be installed from the package registries; Crafter is the open-world
benchmark DreamerV3 itself reports, and the official dreamerv3-jax ships a Crafter env
(`embodied/envs/crafter.py`). As there: 64 x 64 colour frames, the 17 discrete actions, the
`reward` task (achievement unlocks +1, health changes +-0.1), episodes end when the player
dies (terminal) or after 10,000 steps (the env's own cap: truncation). No action repeat.

`state` is the game state a probe can read: the 16 inventory counts, the player's position
and facing, and the achievement counts so far this episode (`STATE_NAMES`). The last frame's
achievement counts give the episode's unlocks (`episode_achievements`), from which
analyses/crafter.py computes the success rates and the Crafter score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.envs.base import Obs, UnknownTaskError

TASKS = ("reward", "noreward")
INVENTORY = ("health", "food", "drink", "energy", "sapling", "wood", "stone", "coal", "iron",
             "diamond", "wood_pickaxe", "stone_pickaxe", "iron_pickaxe", "wood_sword",
             "stone_sword", "iron_sword")
ACHIEVEMENTS = ("collect_coal", "collect_diamond", "collect_drink", "collect_iron",
                "collect_sapling", "collect_stone", "collect_wood", "defeat_skeleton",
                "defeat_zombie", "eat_cow", "eat_plant", "make_iron_pickaxe", "make_iron_sword",
                "make_stone_pickaxe", "make_stone_sword", "make_wood_pickaxe", "make_wood_sword",
                "place_furnace", "place_plant", "place_stone", "place_table", "wake_up")
STATE_NAMES = (*INVENTORY, "pos_x", "pos_y", "facing_x", "facing_y",
               *(f"achievement_{a}" for a in ACHIEVEMENTS))
EPISODE_STEPS = 10_000


def check_task(name: str) -> None:
    if name not in TASKS:
        raise UnknownTaskError(f"unknown Crafter task {name!r}; choose crafter/reward or "
                               "crafter/noreward")
    try:
        import crafter  # noqa: F401
    except ImportError:
        raise UnknownTaskError("crafter/ tasks need the crafter package: pip install -e "
                               "'.[crafter]'") from None


def episode_achievements(state: np.ndarray) -> dict[str, float]:
    """1.0 for each achievement unlocked in an episode, read from its last frame's state."""
    counts = np.asarray(state)[len(INVENTORY) + 4:]
    return {f"achievement_{a}": float(c > 0) for a, c in zip(ACHIEVEMENTS, counts, strict=True)}


class CrafterEnv:
    discrete = True
    action_repeat = 1
    state_dim = len(STATE_NAMES)

    def __init__(self, task: str = "reward", size: int = 64,
                 episode_length: int = EPISODE_STEPS):
        import crafter

        check_task(task)
        if tuple(crafter.constants.achievements) != ACHIEVEMENTS:
            raise RuntimeError("this crafter version has other achievements than "
                               "agents/envs/crafter.py knows")
        self._env = crafter.Env(size=(size, size), reward=task == "reward",
                                length=episode_length, seed=0)
        self.action_dim = int(self._env.action_space.n)
        self.episode_length = episode_length

    def _obs(self, image: np.ndarray) -> Obs:
        player = self._env._player  # read the player itself: reset gives no info dict
        inventory = [player.inventory[k] for k in INVENTORY]
        unlocked = [player.achievements[a] for a in ACHIEVEMENTS]
        state = np.array([*inventory, *player.pos, *player.facing, *unlocked], np.float32)
        return {"image": np.ascontiguousarray(image), "state": state}

    def reset(self, seed: int) -> tuple[Obs, dict[str, Any]]:
        # Crafter seeds each world from (seed, episode number): set both, so the reset seed
        # alone decides the world.
        self._env._seed, self._env._episode = int(seed) % 2**31, 0
        return self._obs(self._env.reset()), {"success": 0.0}

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        image, reward, done, info = self._env.step(int(np.argmax(action)))
        terminated = info["discount"] == 0  # the player died
        return self._obs(image), float(reward), bool(terminated), \
            bool(done and not terminated), {"success": 0.0}

    def close(self) -> None:
        pass
