"""Episodes in a pool of envs: reset seeds, playing a round of episodes with a policy, one
episode's summary row, the evaluation episodes of a run, and the random state acting draws
from (so an evaluation can be redone exactly, agents/evaluate.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from agents.data.replay import EpisodeBuilder


def episode_seed(seed: int, kind: int, env: int, index: int) -> int:
    """Independent, reproducible reset seed per (run seed, train/eval, env index, episode
    index). Evaluation episodes use env 0 and a global index, so the evaluation set is the same
    whatever the number of envs."""
    return int(np.random.SeedSequence([seed, kind, env, index]).generate_state(1)[0])


def play(envs, seeds: dict[int, int], policy, on_step, track=None) -> dict[int, dict]:
    """One episode in each env of `seeds` ({env index: reset seed}) of the pool `envs`,
    stepped together; `policy(images [m, H, W, 3], state) -> (actions [m, A], state)` acts for
    all m of them at once (finished envs keep their last frame; their actions are dropped).
    `on_step(live)` returning True stops the round mid-episode; `track(builders)` is told the
    episodes being built (and [] after). Returns each finished env's episode arrays."""
    order = sorted(seeds)
    obs = {i: o for i, (o, _) in envs.reset(seeds).items()}
    episodes = {i: EpisodeBuilder(obs[i], envs.action_dim) for i in order}
    if track is not None:  # training episodes: replay may sample them while they run
        track(list(episodes.values()))
    active, state = set(order), None
    while active:
        actions, state = policy(np.stack([obs[i]["image"] for i in order]), state)
        live = [i for i in order if i in active]
        steps = envs.step({i: actions[order.index(i)] for i in live})
        for i, (o, reward, terminated, truncated, info) in steps.items():
            obs[i] = o
            episodes[i].add(o, actions[order.index(i)], reward, info["success"], terminated)
            if terminated or truncated:
                active.discard(i)
        if on_step(len(live)):
            break
    if track is not None:
        track([])
    return {i: episodes[i].arrays() for i in order if i not in active}


def summary(ep: dict, action_repeat: int, task: str = "") -> dict[str, float]:
    """An episode's return, success (where its suite has a success flag: Meta-world) and
    length in env steps (frames), and what its suite adds (its registry entry's
    `episode_metrics`: Crafter's achievements, `achievement_<name>`)."""
    from agents.envs import SUITES, has_success

    row = {"return": float(ep["reward"].sum())}
    if has_success(task):
        row["success"] = float(ep["success"].max())
    row["length"] = int(len(ep["reward"]) - 1) * action_repeat
    suite = SUITES.get(task.partition("/")[0])
    if suite is not None and suite.episode_metrics is not None:
        row.update(suite.episode_metrics(ep))
    return row


def evaluation_episodes(envs, policy, seed: int, first: int, count: int,
                        on_episode: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Evaluation episodes `first`, ..., `first + count - 1` of a run seeded `seed`, up to
    `envs.n` at a time, acting with `policy` (the trainer's and agents.evaluate's: the agent's
    greedy or sampled action, behaviour.eval_greedy): one row per episode, in order.
    `on_episode(index, arrays)` is shown each episode's arrays (for videos)."""
    rows = []
    for start in range(0, count, envs.n):
        seeds = {i: episode_seed(seed, 1, 0, first + start + i)
                 for i in range(min(envs.n, count - start))}
        episodes = play(envs, seeds, policy, lambda live: None)
        for i, ep in episodes.items():
            if on_episode is not None:
                on_episode(first + start + i, ep)
            rows.append({"episode": first + start + i, "seed": seeds[i],
                         **summary(ep, envs.action_repeat, envs.spec.task)})
    return rows


def random_state(device) -> dict:
    """torch's global random state, which acting samples from (on CUDA, that device's too)."""
    import torch

    state = {"device": device.type, "torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


def set_random_state(state: dict, device) -> None:
    import torch

    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
