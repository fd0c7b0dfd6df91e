"""Distracted DMC (agents/envs/distracted.py): real MuJoCo renders with their background pixels
replaced, by the official mask rule, and nothing else touched."""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from agents.config import ConfigError, make_config
from agents.envs import make_env
from agents.envs.distracted import (
    Background,
    BackgroundSource,
    background_mask,
    describe,
    parse_task,
    synthetic_bank,
)
from tests.envs.refusals import assert_refused


def frames(task: str, seed: int = 1, steps: int = 3) -> tuple[list[np.ndarray], list]:
    """(painted images, raw renders of the same frames) over one short rollout."""
    env = make_env(task, 64, 1000, 2, "corner")
    raw = []
    paint = env._paint

    def keep(obs):  # the wrapped env's own frame, before its background is painted
        raw.append(obs["image"].copy())
        return paint(obs)

    env._paint = keep
    images = [env.reset(seed)[0]["image"]]
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, env.action_dim))
    images += [env.step(a)[0]["image"] for a in actions]
    env.close()
    return images, raw


@pytest.mark.parametrize("task", ["walker-walk", "cartpole-swingup"])
def test_only_background_pixels_change(task):
    images, raw = frames(f"dmc_distracted/{task}?bg=color")
    for image, before in zip(images, raw, strict=True):
        mask = background_mask(before)
        assert 0.2 < mask.mean() < 0.99  # the sky (and floor) is background, the body is not
        assert np.array_equal(image[~mask], before[~mask])  # the agent's pixels are untouched
        colour = image[mask]
        assert (colour == colour[0]).all()  # one colour fills the background
    # The same physics under another source: identical outside the mask.
    synthetic, raw2 = frames(f"dmc_distracted/{task}")
    for a, b, before in zip(images, synthetic, raw2, strict=True):
        mask = background_mask(before)
        assert np.array_equal(a[~mask], b[~mask]) and not np.array_equal(a[mask], b[mask])


def test_body_pixels_are_not_background():
    # The walker's orange body and dm_control's default colours fail the blue-dominant rule.
    body = np.array([[[200, 140, 80], [60, 60, 60], [50, 80, 120]]], np.uint8)
    assert background_mask(body).tolist() == [[False, False, True]]


def test_seeds_reproduce_and_backgrounds_move():
    a, _ = frames("dmc_distracted/walker-walk", seed=3)
    b, _ = frames("dmc_distracted/walker-walk", seed=3)
    c, _ = frames("dmc_distracted/walker-walk", seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])  # another episode, another clip offset
    assert not np.array_equal(a[0], a[-1])  # the video plays along the episode


def test_sources_reset_per_episode_unless_official():
    src = BackgroundSource(Background("color"), 8)
    src.reset(1)
    first = src.frame().copy()
    src.reset(2)
    assert not np.array_equal(first, src.frame())
    src.reset(1)
    assert np.array_equal(first, src.frame())
    # per_episode=0: the official wrapper never resets its source after the first draw.
    official = BackgroundSource(Background("color", per_episode=False), 8)
    official.reset(1)
    kept = official.frame().copy()
    official.reset(2)
    assert np.array_equal(kept, official.frame())
    video = BackgroundSource(Background("synthetic", frames=50, per_episode=False), 8)
    video.reset(1)
    _ = [video.frame() for _ in range(3)]
    after = video._loc
    video.reset(2)
    assert video._loc == after  # the offset runs on across episodes


def test_synthetic_bank_is_seeded_and_gray_by_default():
    bank = synthetic_bank(120, 64, gray=True, seed=0)
    assert bank.shape == (120, 64, 64, 1) and bank.dtype == np.uint8
    assert np.array_equal(bank, synthetic_bank(120, 64, gray=True, seed=0))
    assert not np.array_equal(bank, synthetic_bank(120, 64, gray=True, seed=1))
    assert bank.std() > 10  # not a flat image
    assert np.abs(bank[1:].astype(int) - bank[:-1]).mean() > 0  # it moves
    assert synthetic_bank(5, 16, gray=False, seed=0).shape == (5, 16, 16, 3)


def write_gif(path: Path, n: int, value0: int) -> None:
    clip = np.stack([np.full((20, 30, 3), (value0 + 10 * i) % 256, np.uint8) for i in range(n)])
    iio.imwrite(path, clip, extension=".gif")


def test_video_source_reads_a_folder(tmp_path):
    write_gif(tmp_path / "a.gif", 4, 0)
    write_gif(tmp_path / "b.gif", 4, 100)
    (tmp_path / "notes.txt").write_text("not a video")  # ignored: not a video suffix
    task = f"dmc_distracted/walker-walk?bg=video&src={tmp_path}&frames=10"
    make_config("smoke", task)  # the folder is checked and accepted
    src = BackgroundSource(parse_task(task.partition("/")[2])[1], 64)
    assert src.bank.shape == (10, 64, 64, 1)  # 8 frames in two files, then round again
    levels = sorted({int(f.mean()) for f in src.bank})
    assert len(levels) == 8  # every frame of both files, grey levels as written (+-GIF)
    images, raw = frames(task)
    mask = background_mask(raw[1])
    assert len(np.unique(images[1][mask])) == 1  # a flat grey frame in the background


def test_video_folder_from_the_environment(tmp_path, monkeypatch):
    write_gif(tmp_path / "a.gif", 3, 0)
    monkeypatch.setenv("HD_DISTRACTOR_VIDEOS", str(tmp_path))
    _, bg = parse_task("walker-walk?bg=video&frames=3")
    assert bg.src == str(tmp_path)
    make_config("smoke", "dmc_distracted/walker-walk?bg=video")


@pytest.mark.parametrize("src, message", [
    ("/nonexistent/videos", "does not exist"),
    ("EMPTY", "has no videos"),
    ("BROKEN", "cannot read background video"),
])
def test_bad_video_folders_are_one_line_and_exit_2(tmp_path, src, message):
    if src == "EMPTY":
        src = str(tmp_path)
    elif src == "BROKEN":
        (tmp_path / "clip.mp4").write_bytes(b"not a video at all")
        src = str(tmp_path)
    assert_refused(f"dmc_distracted/walker-walk?bg=video&src={src}", message, tmp_path / "run")


@pytest.mark.parametrize("task, message", [
    ("walker-walk?bg=kinetics", "unknown background source"),
    ("walker-walk?bg=video", "needs src=FOLDER or \\$HD_DISTRACTOR_VIDEOS"),
    ("walker-walk?bg=color&src=/tmp", "src goes only with bg=video"),
    ("walker-walk?colour=red", "unknown background option"),
    ("walker-walk?frames=abc", "bad background option"),
    ("walker-walk?gray=yes", "bad background option"),
    ("walker-walks", "unknown DMC task"),
])
def test_bad_task_options_are_config_errors(task, message, monkeypatch):
    monkeypatch.delenv("HD_DISTRACTOR_VIDEOS", raising=False)
    with pytest.raises(ConfigError, match=message):
        make_config("smoke", f"dmc_distracted/{task}")


def test_default_needs_no_file_and_says_it_is_a_stand_in():
    cfg = make_config("smoke", "dmc_distracted/walker-walk")
    assert cfg.env.action_repeat == 2  # the official dmc_natural_background config
    paper = make_config("paper", "dmc_distracted/walker-walk").model
    assert (paper.deter, paper.hidden) == (1024, 1024)  # not dmc_vision's 200
    assert "stand-in" in describe("dmc_distracted/walker-walk")
    assert "stand-in" not in describe("dmc_distracted/walker-walk?bg=color")
