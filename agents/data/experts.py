"""Datasets for the offline world-model diagnostics, collected with Meta-world's scripted
experts.

Meta-world ships a scripted policy per task. The `expert` kind adds Gaussian action noise at
several levels, which gives episodes that succeed, nearly succeed and fail, so rewards vary
along and across episodes. The `replay_like` kind mixes random, heavily perturbed and expert
episodes in stated shares, shaped like an online agent's early replay (agents/data/mixes.py).

Episodes use the replay layout (pixels, state, action, reward, success) and are cached
under `<root>/<key>/`, where the key hashes every setting that changes the data: a dataset is
collected once and shared by every run that asks for the same one. A file lock makes
concurrent runs wait for the first collector instead of collecting twice. A damaged episode
file is collected again (the dataset is a cache), and every file is written atomically: a
temporary file that a kill or a full disk left is removed on the next start.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agents.config import Config
from agents.data import mixes
from agents.data.replay import (
    Episode,
    EpisodeBuilder,
    EpisodeFileError,
    load_episode,
    remove_temporaries,
    save_episode,
)
from agents.envs import EnvSpec, make_env  # first: sets MUJOCO_GL before metaworld loads mujoco
from agents.files import atomic_write_text

DATA_SEED = 12345  # fixed: the dataset is the same whatever the run's seed
# Meta-world's scripted policies warn on every step whose raw action exceeds [-1, 1]; the env
# clips it (as we do), so the warning repeats thousands of times per dataset and says nothing.
warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high")


def settings(cfg: Config) -> dict:
    """Every setting that changes the data (an expert dataset's keys are those it always had,
    so its cache and run ids stay)."""
    e, o = cfg.env, cfg.offline
    out = {"task": e.task, "image_size": e.image_size, "episode_length": e.episode_length,
           "camera": e.camera, "render": e.render, "episodes": o.episodes, "seed": DATA_SEED}
    if o.data == "expert":
        return {**out, "noise_pct": list(o.noise_pct)}
    return {**out, "data": o.data, "mix": [f"{b}:{s:.6g}" for b, s in mixes.parse(o.mix)]}


def dataset_key(cfg: Config) -> str:
    return hashlib.sha1(json.dumps(settings(cfg), sort_keys=True).encode()).hexdigest()[:12]


def expert_policy(task: str):
    from metaworld.policies import ENV_POLICY_MAP

    name = task.removeprefix("metaworld/") + "-v3"
    if name not in ENV_POLICY_MAP:
        raise ValueError(f"no scripted expert for {task!r}")
    return ENV_POLICY_MAP[name]()


def behaviours(cfg: Config) -> list[str]:
    """The behaviour that collects each episode (mixes.act's names: random, expert,
    noise<P>). Expert kind: episode i at noise level i mod len(levels), so every level appears
    in train and held-out; replay_like: the mix's shares (mixes.assign)."""
    o = cfg.offline
    if o.data == "expert":
        return [f"noise{o.noise_pct[i % len(o.noise_pct)]}" for i in range(o.episodes)]
    return mixes.assign(o.mix, o.episodes)


def collect_episode(env, policy, behaviour: str, seed: int) -> Episode:
    """One episode of `behaviour` (a mixes name: random, expert, noise<P>)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed)
    episode = EpisodeBuilder(obs, env.action_dim)
    done = False
    while not done:
        action = mixes.act(policy, obs["state"], behaviour, env.action_dim, rng)
        obs, reward, terminated, truncated, info = env.step(action.astype(np.float32))
        episode.add(obs, action.astype(np.float32), reward, info["success"])
        done = terminated or truncated
    return episode.arrays()


def load_or_collect(cfg: Config, root: str | Path, progress: bool = True,
                    on_episode: Callable[[int, int], None] | None = None) -> list[Episode]:
    """The dataset's episodes in collection order (collected on first use). `on_episode(i, n)`
    is told of each episode collected, for progress shown outside this process."""
    from tqdm import tqdm

    directory = Path(root) / dataset_key(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        remove_temporaries(directory)  # a write cut short (a kill, a full disk)
        paths = [directory / f"ep_{i:06d}.npz" for i in range(cfg.offline.episodes)]
        episodes: dict[int, Episode] = {}
        for i, path in enumerate(paths):
            if not path.exists():
                continue
            try:
                episodes[i] = load_episode(path)
            except EpisodeFileError as exc:  # a dataset is a cache: collect it again
                print(f"warning: {exc}; collecting it again", file=sys.stderr)
                path.unlink(missing_ok=True)
        missing = [i for i in range(len(paths)) if i not in episodes]
        if missing:
            e = cfg.env
            env = make_env(EnvSpec.of(e, action_repeat=1))
            policy = expert_policy(e.task)
            kinds = behaviours(cfg)
            try:
                have = cfg.offline.episodes - len(missing)
                for k, i in enumerate(tqdm(missing, desc=f"{cfg.offline.data} data {e.task}",
                                           disable=not progress)):
                    seed = int(np.random.SeedSequence([DATA_SEED, i]).generate_state(1)[0])
                    ep = collect_episode(env, policy, kinds[i], seed)
                    save_episode(paths[i], ep)
                    episodes[i] = load_episode(paths[i])  # exactly what a later run reads
                    if on_episode:
                        on_episode(have + k + 1, cfg.offline.episodes)
            finally:
                env.close()
            atomic_write_text(directory / "settings.json", json.dumps(settings(cfg), indent=1))
    return [episodes[i] for i in range(len(paths))]


def split(cfg: Config, episodes: list[Episode]) -> tuple[list[Episode], list[Episode]]:
    """(train, held-out): the last `offline.heldout` episodes are held out."""
    n = cfg.offline.heldout
    return episodes[:-n], episodes[-n:]
