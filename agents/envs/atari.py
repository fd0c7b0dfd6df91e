"""Atari through ale-py (ROMs ship in the PyPI package), with DreamerV3's Atari 100K protocol.

64 x 64 colour frames; action repeat 4 with the max over the last two frames; sticky actions
off (ale-py's v5 default is 0.25); up to 30 no-op starts; the minimal action set; no life-loss
terminal and no reward clipping; episodes capped at 108,000 frames. The frame processing is
gymnasium's `AtariPreprocessing` (OpenCV area resize, as the official code's `opencv` resize).
Actions arrive as vectors (one-hot from the agent) and the argmax is played; `state` is the
console's 128-byte RAM, the true state a probe can read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.envs.base import Obs, UnknownTaskError

# The 26 games of Atari 100K, in the reference score files' names.
ATARI100K = (
    "alien", "amidar", "assault", "asterix", "bank_heist", "battle_zone", "boxing", "breakout",
    "chopper_command", "crazy_climber", "demon_attack", "freeway", "frostbite", "gopher",
    "hero", "james_bond", "kangaroo", "krull", "kung_fu_master", "ms_pacman", "pong",
    "private_eye", "qbert", "road_runner", "seaquest", "up_n_down",
)


def ale_id(game: str) -> str:
    """'ms_pacman' -> 'ALE/MsPacman-v5' ('james_bond' is ALE's 'Jamesbond')."""
    name = "jamesbond" if game == "james_bond" else game
    return "ALE/" + "".join(part.capitalize() for part in name.split("_")) + "-v5"


def _registry():
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    return gym


def check_game(game: str) -> None:
    """UnknownTaskError for a game ALE lacks, found from its ROM files without importing
    ale_py (bad input is refused before ALE loads); its registry where they are not found."""
    import importlib.util
    from pathlib import Path

    if game in ATARI100K:
        return
    spec = importlib.util.find_spec("ale_py")
    roms = Path(next(iter(spec.submodule_search_locations))) / "roms" if spec else None
    if roms is not None and roms.is_dir():
        rom = "jamesbond" if game == "james_bond" else game
        known = (roms / f"{rom}.bin").is_file()
    else:
        known = ale_id(game) in _registry().registry
    if not known:
        raise UnknownTaskError(f"unknown Atari game {game!r} (e.g. pong, ms_pacman, breakout)")


class AtariEnv:
    discrete = True
    state_dim = 128

    def __init__(self, game: str, size: int = 64, episode_length: int = 108_000,
                 action_repeat: int = 4, noops: int = 30):
        check_game(game)
        gym = _registry()
        env = gym.make(ale_id(game), frameskip=1, repeat_action_probability=0.0,
                       full_action_space=False, max_num_frames_per_episode=episode_length)
        self._env = gym.wrappers.AtariPreprocessing(
            env, noop_max=noops, frame_skip=action_repeat, screen_size=size,
            terminal_on_life_loss=False, grayscale_obs=False, scale_obs=False)
        self._ale = env.unwrapped.ale
        self.action_dim = int(env.action_space.n)
        self.action_repeat = action_repeat
        self.episode_length = episode_length

    def _obs(self, image: np.ndarray) -> Obs:
        return {"image": np.ascontiguousarray(image),
                "state": self._ale.getRAM().astype(np.float32)}

    def reset(self, seed: int) -> tuple[Obs, dict[str, Any]]:
        image, _ = self._env.reset(seed=int(seed) % 2**31)  # seeds the no-op count too
        return self._obs(image), {"success": 0.0}

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        index = int(np.argmax(action))
        image, reward, terminated, truncated, _ = self._env.step(index)
        return self._obs(image), float(reward), bool(terminated), bool(truncated), \
            {"success": 0.0}

    def close(self) -> None:
        self._env.close()
