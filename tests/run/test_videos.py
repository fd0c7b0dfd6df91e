"""Videos (log.video_every, agents/run/videos.py): an evaluation episode and the world model's open
loop, as MP4 (imageio-ffmpeg) or GIF; written by online and offline runs and agents.evaluate,
sent to TensorBoard; a run computes the same with them on or off; the keys leave a run's
identity alone; a bad value is a one-line error."""

import json

import imageio
import numpy as np
import pytest
import torch

from agents.config import ConfigError, identity, make_config
from agents.families import make_agent
from agents.run import videos
from agents.train import main as train_main
from agents.train import train
from study.grid import run_id

DMC = "dmc/cartpole-swingup"  # the fastest env (tests/run/test_train.py)
FAST = ["train.steps=200", "train.checkpoint_every=50", "train.eval_every=50", "train.threads=1"]
OFFLINE = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
           "offline.updates=6", "offline.eval_every=3", "train.threads=1"]
needs_ffmpeg = pytest.mark.skipif(not videos.ffmpeg_available(),
                                  reason="imageio-ffmpeg is not installed (the video extra)")


def decode(path) -> np.ndarray:
    return np.stack(imageio.v2.mimread(path, memtest=False))[..., :3]


def fake_open_loop(t=12, size=64):
    rng = np.random.default_rng(0)
    true = rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8)
    frames = videos.open_loop_video(true, true[::-1].copy(), rng.random(t), rng.random(t), 5)
    return true, frames


def test_open_loop_frames_are_true_predicted_error_with_captions():
    true, frames = fake_open_loop()
    # Three 128-pixel panels (64 px scaled by 2), a 32-pixel caption under them.
    assert frames.shape == (12, 160, 384, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[:, :128, :128], true.repeat(2, 1).repeat(2, 2))
    assert np.array_equal(frames[:, :128, 128:256], true[::-1].repeat(2, 1).repeat(2, 2))
    assert not (frames[0, :128, 256:] == 128).all()  # they differ: the error is not grey
    assert frames[:, 128:].std() > 0  # the captions are drawn


@needs_ffmpeg
def test_mp4_decodes_to_its_frames(tmp_path):
    _, frames = fake_open_loop()
    path = videos.write_video(videos.video_path(tmp_path, "open_loop", 40), frames)
    assert path == tmp_path / "videos" / "open_loop_00000040.mp4"
    got = decode(path)
    assert got.shape == frames.shape
    assert abs(got.mean() - frames.mean()) < 5  # lossy (H.264), but these frames


def test_gif_when_imageio_ffmpeg_is_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(videos, "ffmpeg_available", lambda: False)
    _, frames = fake_open_loop()
    path = videos.write_video(videos.video_path(tmp_path, "eval", 7), frames)
    assert path.name == "eval_00000007.gif"
    got = decode(path)
    assert got.shape == frames.shape
    assert videos.videos(tmp_path, "eval") == [(7, path)]
    assert not list((tmp_path / "videos").glob(".*"))  # no temporary file left


@pytest.mark.parametrize("task,agent", [(DMC, "dreamerv2"), ("atari/pong", "dreamerv3")])
def test_open_loop_of_either_family_leaves_the_random_state(task, agent):
    cfg = make_config("smoke", task, [f"model.agent={agent}", "train.threads=1"])
    dim = 6 if agent == "dreamerv3" else 1
    device = torch.device("cpu")
    model = make_agent(cfg, dim, device)
    rng = np.random.default_rng(0)
    size = cfg.env.image_size
    episode = {"image": rng.integers(0, 256, (20, size, size, 3), dtype=np.uint8),
               "action": rng.uniform(-1, 1, (20, dim)).astype(np.float32),
               "reward": rng.random(20).astype(np.float32)}
    before = torch.get_rng_state()
    frames = videos.open_loop_frames(model.wm, episode, 5, 16, device)
    assert torch.equal(torch.get_rng_state(), before)
    scale = max(1, 128 // size)
    assert frames.shape[:3] == (16, size * scale + 32, 3 * size * scale)
    assert model.wm.training  # left in the mode it was in


def test_video_keys_leave_the_run_identity_alone():
    base = make_config("smoke", DMC, FAST)
    filmed = make_config("smoke", DMC, [*FAST, "log.video_every=2", "log.video_max_frames=50",
                                        "log.video_context=3"])
    assert identity(filmed) == identity(base)
    assert run_id(filmed) == run_id(base)


@pytest.mark.parametrize("value,said", [
    ("log.video_every=-1", "log.video_every must be >= 0"),
    ("log.video_every=often", "bad value for log.video_every"),
    ("log.video_context=0", "log.video_context must be >= 1"),
    ("log.video_max_frames=5", "log.video_max_frames must be >"),
])
def test_bad_video_values_are_one_line(tmp_path, capsys, value, said):
    with pytest.raises(ConfigError, match=said):
        make_config("smoke", DMC, [*FAST, value])
    code = train_main(["--task", DMC, "--preset", "smoke", "--out", str(tmp_path / "run"),
                       "--set", value])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and said in err
    assert not (tmp_path / "run").exists()


def rows_without_timing(out) -> list[dict]:
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    from agents.run.usage import is_timing

    return [{k: v for k, v in r.items() if not is_timing(k)} for r in rows]


@pytest.mark.slow
def test_online_run_films_every_kth_evaluation_and_computes_the_same(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    plain, filmed = tmp_path / "plain", tmp_path / "filmed"
    train(make_config("smoke", DMC, FAST), plain, progress_bar=False)
    train(make_config("smoke", DMC, [*FAST, "log.video_every=2", "log.outputs=jsonl,tensorboard"]),
          filmed, progress_bar=False)
    assert rows_without_timing(filmed) == rows_without_timing(plain)
    assert not (plain / "videos").exists()
    # Evaluations at 50, 100, 150, 200: the 1st and 3rd (every 2nd) and the last.
    for kind, width in (("eval", 128), ("open_loop", 384)):
        found = videos.videos(filmed, kind)
        assert [step for step, _ in found] == [50, 150, 200]
        # An episode: 25 agent steps (50 frames at action repeat 2) and its first frame.
        assert decode(found[-1][1]).shape == (26, 160, width, 3)
    acc = EventAccumulator(str(filmed / "tb"), size_guidance={"images": 0})
    acc.Reload()
    assert [e.step for e in acc.Images("video/open_loop")] == [50, 150, 200]
    assert acc.Images("video/eval")[0].encoded_image_string[:4] == b"GIF8"


@pytest.mark.slow
def test_offline_run_films_a_heldout_open_loop_and_computes_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))
    task = "metaworld/lever-pull"
    plain, filmed = tmp_path / "plain", tmp_path / "filmed"
    train(make_config("smoke", task, OFFLINE), plain, progress_bar=False)
    train(make_config("smoke", task, [*OFFLINE, "log.video_every=1",
                                      "log.video_max_frames=30"]), filmed, progress_bar=False)
    assert rows_without_timing(filmed) == rows_without_timing(plain)
    assert videos.videos(filmed, "eval") == []  # no policy: no episode video
    found = videos.videos(filmed, "open_loop")
    assert [step for step, _ in found] == [3, 6]
    assert decode(found[-1][1]).shape == (30, 160, 384, 3)  # cut at video_max_frames
