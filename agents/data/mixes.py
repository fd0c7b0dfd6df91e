"""Behaviour mixes: which behaviour collects each episode of an offline dataset.

An offline dataset is one of two kinds (`offline.data`):

- `expert`: the scripted expert with Gaussian action noise, episode i at level
  `offline.noise_pct[i mod len]`. Its rewards are large and varied (the expert succeeds).
- `replay_like`: episodes from a mix of behaviours in stated shares (`offline.mix`), shaped
  like an online agent's replay while the paper's curves separate: mostly exploration that
  earns little reward, some random prefill, little or no success.

A mix is a tuple of `behaviour:share` items. Behaviours: `random` (uniform actions in
[-1, 1], as the prefill's), `expert` (the scripted expert alone) and `noise<P>` (the expert
plus Gaussian noise of std P% of the unit action bound, clipped; `noise1000` is nearly
random but still drifts the way the expert goes). Shares are positive and normalised.

Episode i's behaviour is set by smooth weighted round robin: each episode goes to the
behaviour furthest behind its share. Every prefix of the dataset, and so the training part and
the held-out tail, holds each behaviour within one episode of its share; episode i's behaviour
does not depend on how many episodes are collected.
"""

from __future__ import annotations

import numpy as np

from agents.config.mixes import parse

__all__ = ["parse", "assign", "noise_std", "act", "describe"]


def assign(mix: tuple[str, ...], n: int) -> list[str]:
    """The behaviour of episodes 0..n-1 (smooth weighted round robin; ties: listed order)."""
    items = parse(mix)
    credit = [0.0] * len(items)
    out = []
    for _ in range(n):
        credit = [c + s for c, (_, s) in zip(credit, items, strict=True)]
        k = max(range(len(items)), key=lambda j: (credit[j], -j))
        credit[k] -= 1.0
        out.append(items[k][0])
    return out


def noise_std(behaviour: str) -> float | None:
    """The expert's Gaussian action-noise std for a behaviour; None for `random`."""
    if behaviour == "random":
        return None
    if behaviour == "expert":
        return 0.0
    return int(behaviour.removeprefix("noise")) / 100.0


def act(policy, state: np.ndarray, behaviour: str, action_dim: int,
        rng: np.random.Generator) -> np.ndarray:
    """One action of `behaviour`, in [-1, 1]."""
    std = noise_std(behaviour)
    if std is None:
        return rng.uniform(-1.0, 1.0, size=action_dim)
    action = policy.get_action(state.astype(np.float64))
    return np.clip(action + std * rng.normal(size=action_dim), -1, 1)


def describe(mix: tuple[str, ...]) -> str:
    """'random 10%, noise1000 45%, noise300 45%'."""
    return ", ".join(f"{b} {s:.0%}" for b, s in parse(mix))
