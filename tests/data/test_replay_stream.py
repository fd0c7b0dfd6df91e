"""DreamerV3's official replay stream (replay.stream): windows drawn uniformly over every start
in the stream of stored steps, crossing episode boundaries, is_first marking episode starts.

The shares of terminal and first steps in sampled windows are checked against an exact count
over every window of the same stored episodes (the official sampler draws uniformly among
them)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.config import make_config
from agents.data.replay import KEYS, Replay, stream_windows

L = 16


def episode(length: int, terminal: bool, tag: int) -> dict[str, np.ndarray]:
    """`length` steps after the reset step; state[:, 0] holds a tag per step to trace it."""
    n = length + 1
    ep = {"image": np.zeros((n, 4, 4, 3), np.uint8),
          "state": np.stack([np.full(n, tag, np.float32), np.arange(n, dtype=np.float32)], 1),
          "action": np.ones((n, 2), np.float32), "reward": np.ones(n, np.float32),
          "success": np.zeros(n, np.float32), "terminal": np.zeros(n, np.float32)}
    ep["action"][0] = 0
    ep["reward"][0] = 0
    ep["terminal"][-1] = float(terminal)
    return ep


@pytest.fixture
def episodes():
    # Episodes of 5 to 60 steps, most shorter than a window, all ending in a terminal step.
    rng = np.random.default_rng(0)
    return [episode(int(n), True, i) for i, n in enumerate(rng.integers(5, 60, 25))]


def exact_shares(episodes, seq_len):
    """Mean share of terminal and of first steps over every window of the stream."""
    terminal = np.concatenate([ep["terminal"] for ep in episodes])
    first = np.concatenate([np.eye(1, len(ep["reward"]), 0)[0] for ep in episodes])
    windows = len(terminal) - seq_len + 1
    term = np.mean([terminal[s:s + seq_len].mean() for s in range(windows)])
    firsts = np.mean([(first[s + 1:s + seq_len].sum() + 1) / seq_len for s in range(windows)])
    return term, firsts


def test_window_shares_match_the_exact_count(episodes):
    term, first = exact_shares(episodes, L)
    batch = stream_windows(episodes, L, 20_000, np.random.default_rng(1))
    assert batch["image"].shape == (20_000, L, 4, 4, 3) and set(batch) == {*KEYS, "is_first"}
    # 20K windows: the shares' standard errors are below 0.002.
    assert abs(batch["terminal"].mean() - term) < 0.006, (batch["terminal"].mean(), term)
    assert abs(batch["is_first"].mean() - first) < 0.006, (batch["is_first"].mean(), first)
    # Windows stay inside one episode with the DreamerV2 sampler, never crossing: terminal
    # steps then sit only at window ends, and episodes shorter than a window are never seen.
    assert term > 0.02


def test_windows_are_contiguous_steps_of_the_stream(episodes):
    batch = stream_windows(episodes, L, 500, np.random.default_rng(2))
    stream = np.concatenate([ep["state"] for ep in episodes])
    starts = {tuple(stream[i]): i for i in range(len(stream))}
    for w in range(500):
        tags = batch["state"][w]
        start = starts[tuple(tags[0])]
        assert np.array_equal(tags, stream[start:start + L])  # contiguous, across episodes
        first = batch["is_first"][w]
        assert first[0] == 1 and np.array_equal(first[1:], tags[1:, 1] == 0)
        # The action and reward of an episode's first step are the reset's (zeros).
        assert not batch["action"][w][first == 1][1:].any()
    short = {int(t) for t in batch["state"][..., 0].ravel()}
    assert {i for i, ep in enumerate(episodes) if len(ep["reward"]) < L} <= short


def test_the_v3_preset_samples_the_stream_and_v2_does_not(tmp_path, episodes):
    v3 = make_config("paper", "atari/pong", ["model.agent=dreamerv3"])
    v2 = make_config("paper", "metaworld/lever-pull")
    assert v3.replay.stream and not v2.replay.stream
    replay = Replay(None, 10_000, L, False, np.random.default_rng(0), stream=True)
    assert not replay.ready()
    for ep in episodes:
        replay.add(ep)
    assert replay.ready()
    assert replay.sample(4)["is_first"].shape == (4, L)
    inside = Replay(None, 10_000, L, False, np.random.default_rng(0))
    for ep in episodes:
        inside.add(ep)
    assert "is_first" not in inside.sample(4)
