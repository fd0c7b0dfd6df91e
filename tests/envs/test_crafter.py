"""Crafter (agents/envs/crafter.py), the open-world stand-in for Minecraft, and its scores
(analyses/crafter.py)."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("crafter", reason="the crafter extra: pip install -e '.[crafter]'")

from agents.config import ConfigError, make_config  # noqa: E402
from agents.envs import make_env  # noqa: E402
from agents.envs.crafter import (  # noqa: E402
    ACHIEVEMENTS,
    INVENTORY,
    STATE_NAMES,
    episode_achievements,
)
from analyses import crafter  # noqa: E402
from analyses.load import RUN_COLUMNS  # noqa: E402


def rollout(seed: int, steps: int, length: int = 10_000, actions_seed: int = 0):
    env = make_env("crafter/reward", 64, length, 1, "none")
    obs, _ = env.reset(seed)
    frames, rng, out = [obs], np.random.default_rng(actions_seed), None
    for _ in range(steps):
        out = env.step(np.eye(env.action_dim)[rng.integers(env.action_dim)])
        frames.append(out[0])
        if out[2] or out[3]:
            break
    return env, frames, out


def test_reset_seed_decides_the_world():
    _, a, _ = rollout(3, 20)
    _, b, _ = rollout(3, 20)
    _, c, _ = rollout(4, 0)
    assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0]["image"], c[0]["image"])
    first = a[0]
    assert first["image"].shape == (64, 64, 3) and first["image"].dtype == np.uint8
    assert first["state"].shape == (len(STATE_NAMES),)
    assert first["state"][INVENTORY.index("health")] == 9  # a fresh player


def test_length_cap_truncates_and_death_terminates():
    env, frames, (_, _, terminated, truncated, _) = rollout(0, 50, length=25)
    assert env.action_dim == 17 and env.discrete
    assert len(frames) == 26 and truncated and not terminated
    # Idle long enough and the player starves, freezes or is eaten: a terminal step.
    env = make_env("crafter/reward", 64, 10_000, 1, "none")
    env.reset(0)
    noop = np.eye(17)[0]
    for _ in range(10_000):
        _, _, terminated, truncated, _ = env.step(noop)
        if terminated or truncated:
            break
    assert terminated and not truncated


def test_achievements_are_read_from_the_last_state():
    state = np.zeros(len(STATE_NAMES), np.float32)
    state[STATE_NAMES.index("achievement_collect_wood")] = 3
    got = episode_achievements(state)
    assert len(got) == len(ACHIEVEMENTS) == 22
    assert got["achievement_collect_wood"] == 1.0 and sum(got.values()) == 1.0


def test_crafter_score_formula():
    assert crafter.score(np.zeros(22)) == pytest.approx(0.0)
    assert crafter.score(np.full(22, 100.0)) == pytest.approx(100.0)
    # The geometric mean of 1 + s_i, minus 1: two achievements at 0% and 99%.
    assert crafter.score([0.0, 99.0]) == pytest.approx(np.sqrt(1 * 100) - 1)


def test_success_rates_and_scores_from_the_tidy_table():
    run = {c: v for c, v in zip(RUN_COLUMNS, ["r1", "crafter", "crafter/reward", "harmony",
                                              "harmony", 1, 1, 1, 0], strict=True)}
    rows = []
    for ep, wood in enumerate([1.0, 0.0, 1.0, 1.0]):
        for name in ACHIEVEMENTS:
            rows.append({**run, "state": "done", "step": ep, "split": "episode",
                         "metric": f"achievement_{name}",
                         "value": wood if name == "collect_wood" else 0.0})
    rates = crafter.success_rates(pd.DataFrame(rows))
    assert rates.set_index("achievement")["rate"]["collect_wood"] == 75.0
    assert rates["rate"].sum() == 75.0
    per_run = crafter.scores(rates)
    assert per_run["value"].item() == pytest.approx(crafter.score([75.0] + [0.0] * 21))


def test_crafter_needs_the_dreamerv3_agent():
    with pytest.raises(ConfigError, match="discrete actions"):
        make_config("smoke", "crafter/reward")
    with pytest.raises(ConfigError, match="Crafter task"):
        make_config("smoke", "crafter/diamonds", ["model.agent=dreamerv3"])
    cfg = make_config("quick", "crafter/reward", ["model.agent=dreamerv3"])
    assert cfg.train.precision == "fp32"  # the paper config's fp16 is for CUDA


@pytest.fixture(scope="module")
def crafter_run(tmp_path_factory):
    from agents.train import train

    run = tmp_path_factory.mktemp("crafter") / "run"
    cfg = make_config("smoke", "crafter/reward", ["model.agent=dreamerv3", "train.steps=200"])
    train(cfg, run, progress_bar=False)
    return run


def test_analyses_read_a_dreamerv3_checkpoint(crafter_run):
    """analyses/checkpoints.py builds either family: a Crafter run's world model is read back, its
    latents encode the episodes it collected, and the state probe fits on them."""
    from analyses.checkpoints import encode, load_world_model, read_episodes
    from analyses.probe import fit_probe

    wm, loaded = load_world_model(crafter_run)
    assert type(wm).__module__ == "agents.dreamerv3.world_model"
    assert loaded.model.agent == "dreamerv3"
    episodes = read_episodes(crafter_run / "replay")
    feats = encode(wm, episodes)
    assert [f.shape[0] for f in feats] == [len(ep["reward"]) for ep in episodes]
    table = fit_probe(feats, [ep["state"] for ep in episodes], {"inventory": list(range(16))})
    assert len(table) == 1 and np.isfinite(table["relative_error"]).all()


def test_evaluate_writes_the_achievements(crafter_run, capsys):
    """agents.evaluate's CSV: every suite's columns, then Crafter's achievement_<name> (0/1),
    the same as the run's logged episode rows compute."""
    import pandas as pd

    from agents.envs.crafter import ACHIEVEMENTS
    from agents.evaluate import main

    assert main([str(crafter_run), "--out", str(crafter_run / "ev")]) == 0, capsys.readouterr()
    (csv,) = (crafter_run / "ev").glob("step_*.csv")
    table = pd.read_csv(csv)
    assert list(table.columns) == ["episode", "seed", "return", "length",
                                   *(f"achievement_{a}" for a in ACHIEVEMENTS)]
    assert table[[f"achievement_{a}" for a in ACHIEVEMENTS]].isin([0, 1]).all().all()
