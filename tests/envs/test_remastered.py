"""DMC Remastered (agents/envs/remastered.py): real MuJoCo renders whose visuals change per
visual seed while the simulation stays the plain `dmc/` one."""

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agents.config import ConfigError, make_config
from agents.envs import make_env
from agents.envs.remastered import (
    JITTER,
    VARY,
    Remaster,
    describe,
    draw_visuals,
    parse_task,
    remastered_tasks,
    visual_seed,
)
from tests.envs.refusals import assert_refused


def texture_folder(root: Path) -> Path:
    """A folder laid out as DMCR's assets: a few small random images in skies/ and floors/."""
    rng = np.random.default_rng(0)
    for sub, n in (("skies", 3), ("floors", 2)):
        (root / sub).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / sub / f"{sub}{i}.png")
    return root


def rollout(env, seed: int, actions: np.ndarray) -> tuple[list, list, list]:
    obs, _ = env.reset(seed)
    states, images, rewards = [obs["state"]], [obs["image"]], []
    for a in actions:
        obs, reward, *_ = env.step(a)
        states.append(obs["state"])
        images.append(obs["image"])
        rewards.append(reward)
    return states, images, rewards


@pytest.mark.parametrize("task", ["walker-walk", "cheetah-run?textures=TEX"])
def test_simulation_is_plain_dmc_and_only_pixels_differ(task, tmp_path):
    task = task.replace("TEX", str(texture_folder(tmp_path)))
    remastered = make_env(f"dmc_remastered/{task}", 64, 1000, 2, "corner")
    plain = make_env(f"dmc/{task.partition('?')[0]}", 64, 1000, 2, "corner")
    actions = np.random.default_rng(0).uniform(-1, 1, (4, remastered.action_dim))
    for seed in (1, 2):  # the second reset restyles the live model in place
        s1, i1, r1 = rollout(remastered, seed, actions)
        s2, i2, r2 = rollout(plain, seed, actions)
        assert all(np.array_equal(a, b) for a, b in zip(s1, s2, strict=True))
        assert r1 == r2
        assert all((a != b).any(axis=-1).mean() > 0.5 for a, b in zip(i1, i2, strict=True))
    if "textures" in task:
        assert remastered.visuals.sky.parent.name == "skies"
        assert remastered.visuals.floor.parent.name == "floors"
    remastered.close()
    plain.close()


def test_visuals_differ_across_seeds_and_reproduce():
    env = make_env("dmc_remastered/walker-walk", 64, 1000, 2, "corner")
    first = env.reset(1)[0]["image"]
    cam = env.physics.named.model.cam_pos["side"].copy()
    other = env.reset(2)[0]["image"]
    assert (first != other).any(axis=-1).mean() > 0.5
    assert not np.array_equal(cam, env.physics.named.model.cam_pos["side"])
    assert np.array_equal(env.reset(1)[0]["image"], first)  # back to seed 1: the same pixels
    env.close()
    fresh = make_env("dmc_remastered/walker-walk", 64, 1000, 2, "corner")
    assert np.array_equal(fresh.reset(1)[0]["image"], first)  # and in another env
    fresh.close()
    assert visual_seed(1) != visual_seed(2) and 1 <= visual_seed(3) <= 1_000_000


def test_camera_and_light_stay_in_the_official_ranges():
    for domain, jitter in JITTER.items():
        for seed in range(1, 60):
            v = draw_visuals(domain, seed, Remaster())
            for attr, ranges in jitter.draws:
                if attr in ("light_diffuse", "light_specular"):
                    continue  # a base plus offsets: bounded by their sum
                text = v.light[attr[6:]] if attr.startswith("light_") else v.camera[attr]
                values = [float(x) for x in text.split()]
                if attr == "xyaxes":
                    values = values[4:5]
                for x, (a, b) in zip(values, ranges, strict=True):
                    assert min(a, b) <= x <= max(a, b), (domain, attr, x)
    # The same draws as the official package's for that seed: Python's random, seeded.
    rng = random.Random(77)
    x, y, z = rng.uniform(-0.3, 0.3), rng.uniform(-2.05, -1.95), rng.uniform(0.6, 0.8)
    assert draw_visuals("walker", 77, Remaster()).camera["pos"] == f"{x!r} {y!r} {z!r}"
    # Read back from the live model.
    env = make_env("dmc_remastered/walker-walk", 64, 1000, 2, "corner")
    env.reset(5)
    pos = env.physics.named.model.cam_pos["side"]
    assert -0.3 <= pos[0] <= 0.3 and -2.05 <= pos[1] <= -1.95 and 0.6 <= pos[2] <= 0.8
    assert np.allclose(pos, [float(x) for x in env.visuals.camera["pos"].split()])
    ambient = env.physics.model.vis.headlight.ambient
    assert np.allclose(ambient, env.visuals.headlight["ambient"]) and 0.05 <= ambient.min()
    env.close()


def test_vary_switches_factors_off_without_moving_the_others():
    full = draw_visuals("cheetah", 9, Remaster())
    only_body = draw_visuals("cheetah", 9, Remaster(vary=("body",)))
    assert only_body.body == full.body and only_body.camera == {} and only_body.sky_rgb is None
    assert only_body.headlight == {} and only_body.target is None
    assert draw_visuals("cheetah", 0, Remaster()).camera == {}  # seed 0: the suite's look
    assert "camera" not in parse_task("hopper-hop")[1].vary  # the official dmcr_hopper config
    assert parse_task("walker-walk")[1].vary == VARY
    assert "quadruped-run" not in remastered_tasks() and "cup-catch" in remastered_tasks()


@pytest.mark.parametrize("textures, message", [
    ("/nonexistent/dmcr", "does not exist"),
    ("EMPTY", "has no images in skies/"),
    ("NOFLOORS", "has no images in floors/"),
])
def test_bad_texture_folders_are_one_line_and_exit_2(tmp_path, textures, message):
    if textures == "EMPTY":
        textures = str(tmp_path)
    elif textures == "NOFLOORS":
        texture_folder(tmp_path)
        for f in (tmp_path / "floors").iterdir():
            f.unlink()
        textures = str(tmp_path)
    assert_refused(f"dmc_remastered/walker-walk?textures={textures}", message, tmp_path / "run")


@pytest.mark.parametrize("task, message", [
    ("walker-walk?vary=bg,wind", "unknown vary factor"),
    ("walker-walk?seed=3", "unknown option"),
    ("walker-walk?visual_seed=x", "visual_seed must be an integer"),
    ("walker-walk?visual_seed=-1", "visual_seed must be in"),
    ("walker-walk?textures=", "textures= needs a folder"),
    ("quadruped-run", "DMC Remastered has no quadruped"),
    ("walker-walks", "unknown DMC Remastered task"),
])
def test_bad_task_options_are_config_errors(task, message):
    with pytest.raises(ConfigError, match=message):
        make_config("smoke", f"dmc_remastered/{task}")


def test_config_and_a_few_steps():
    cfg = make_config("smoke", "dmc_remastered/cartpole-swingup")
    assert cfg.env.action_repeat == 2 and cfg.env.camera == "0"  # the DMC agent config
    env = make_env(cfg.env.task, cfg.env.image_size, 1000, cfg.env.action_repeat,
                   cfg.env.camera, cfg.env.render)
    obs, _ = env.reset(0)
    assert obs["image"].shape == (cfg.env.image_size, cfg.env.image_size, 3)
    for _ in range(3):
        obs, reward, terminated, truncated, _ = env.step(np.zeros(env.action_dim))
        assert np.isfinite(reward) and not terminated
    env.close()
    assert "stand" in describe("dmc_remastered/walker-walk")  # colours stand in for images
    assert "images from" in describe("dmc_remastered/walker-walk?textures=/x")
