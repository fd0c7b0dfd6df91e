"""Videos of a run (`log.video_every`): an evaluation episode, and the world model's open loop.

- `eval_<step>`: one evaluation episode's frames, each with its reward and the return so far.
- `open_loop_<step>`: the world model filters the first `log.video_context` frames of an
  episode, then imagines the rest under the episode's real actions (the mode of each latent,
  as agents.run.offline's `reward_rmse_open_loop`); each frame shows true | predicted | error
  (0.5 + (predicted - true) / 2, grey where they agree), with the true and predicted reward
  written and drawn as bars under them. Context frames show the posterior's reconstruction.

Both are cut at `log.video_max_frames` frames and written to RUN_DIR/videos/ (`video_path`):
MP4 through imageio-ffmpeg (the `video` extra), GIF through Pillow where that is absent.
Drawing a video never touches the training random streams: the world model runs under a
forked torch random state, so a run computes the same with videos on or off.
"""

from __future__ import annotations

import importlib.util
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

FPS = 20
PANEL = 128  # frames are scaled up (nearest) to at least this many pixels high
CAPTION = 32  # pixels under each panel: two lines of text and a reward bar
BACKGROUND = 24
KINDS = ("eval", "open_loop")


def ffmpeg_available() -> bool:
    """Whether MP4s can be written (imageio-ffmpeg, which ships its own ffmpeg binary)."""
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def video_format() -> str:
    return "mp4" if ffmpeg_available() else "gif"


def video_path(run_dir: str | Path, kind: str, step: int, fmt: str | None = None) -> Path:
    """RUN_DIR/videos/<kind>_<step, 8 digits>.<mp4|gif>."""
    return Path(run_dir) / "videos" / f"{kind}_{step:08d}.{fmt or video_format()}"


def videos(run_dir: str | Path, kind: str) -> list[tuple[int, Path]]:
    """A run's videos of one kind as (step, path), by step (the last is the latest)."""
    found = []
    for path in (Path(run_dir) / "videos").glob(f"{kind}_*"):
        step = path.stem.removeprefix(f"{kind}_")
        if step.isdigit() and path.suffix in (".mp4", ".gif"):
            found.append((int(step), path))
    return sorted(found)


# --- drawing ------------------------------------------------------------------------------

def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


def _scale(frames: np.ndarray) -> np.ndarray:
    """[T, H, W, 3] uint8 scaled up by an integer factor to at least PANEL pixels high."""
    k = max(1, PANEL // frames.shape[1])
    return frames.repeat(k, 1).repeat(k, 2) if k > 1 else frames


def _canvas(t: int, h: int, w: int) -> np.ndarray:
    """A background of at least h x w, rounded up to multiples of 16 (H.264 macroblocks)."""
    return np.full((t, -(-h // 16) * 16, -(-w // 16) * 16, 3), BACKGROUND, np.uint8)


def _bar(draw, x: int, y: int, width: int, fraction: float, color: tuple) -> None:
    draw.rectangle([x, y, x + width - 1, y + 3], fill=(60, 60, 60))
    filled = int(round(np.clip(fraction, 0.0, 1.0) * (width - 1)))
    if filled > 0:
        draw.rectangle([x, y, x + filled, y + 3], fill=color)


def _captioned(canvas: np.ndarray, panel_h: int, panel_w: int,
               captions: list[list[tuple[int, list[str], Any]]]) -> np.ndarray:
    """Write each frame's captions under its panels (panel_h x panel_w, at the top): per
    frame, (x, [line, line], (bar fraction, colour) or None) for the panel that starts at x."""
    from PIL import Image, ImageDraw

    font = _font()
    out = np.empty_like(canvas)
    for t, frame in enumerate(canvas):
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        for x, lines, bar in captions[t]:
            for i, line in enumerate(lines):
                draw.text((x + 3, panel_h + 1 + 12 * i), line, fill=(230, 230, 230), font=font)
            if bar is not None:
                _bar(draw, x + 3, panel_h + CAPTION - 6, panel_w - 6, *bar)
        out[t] = np.asarray(image)
    return out


def _fraction(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return (values - low) / max(high - low, 1e-8)


def episode_video(image: np.ndarray, reward: np.ndarray) -> np.ndarray:
    """An episode's frames [T, H, W, 3] uint8 with their reward and the return so far."""
    panels = _scale(image)
    t, h, w = panels.shape[:3]
    canvas = _canvas(t, h + CAPTION, w)
    canvas[:, :h, :w] = panels
    low, high = min(0.0, float(reward.min())), max(0.0, float(reward.max()))
    returns = np.cumsum(reward)
    captions = [[(0, [f"t {i}  r {reward[i]:.3g}", f"return {returns[i]:.4g}"],
                  (_fraction(reward[i], low, high), (90, 200, 90)))] for i in range(t)]
    return _captioned(canvas, h, w, captions)


def open_loop_video(true: np.ndarray, predicted: np.ndarray, reward: np.ndarray,
                    predicted_reward: np.ndarray, context: int) -> np.ndarray:
    """Frames true | predicted | error ([T, H, W, 3] uint8 each in), the true and predicted
    rewards [T] under them; frames before `context` are the posterior's reconstruction."""
    error = (127.5 + (predicted.astype(np.float32) - true.astype(np.float32)) / 2)
    error = error.round().clip(0, 255).astype(np.uint8)
    mae = np.abs(predicted.astype(np.float32) - true.astype(np.float32)).mean((1, 2, 3)) / 255
    panels = [_scale(x) for x in (true, predicted, error)]
    t, h, w = panels[0].shape[:3]
    canvas = _canvas(t, h + CAPTION, 3 * w)
    for i, panel in enumerate(panels):
        canvas[:, :h, i * w:(i + 1) * w] = panel
    both = np.concatenate([reward, predicted_reward])
    low, high = min(0.0, float(both.min())), max(0.0, float(both.max()))
    captions = []
    for i in range(t):
        phase = "context" if i < context else "open loop"
        captions.append([
            (0, [f"true  t {i}", f"reward {reward[i]:.3g}"],
             (_fraction(reward[i], low, high), (90, 200, 90))),
            (w, [f"predicted ({phase})", f"reward {predicted_reward[i]:.3g}"],
             (_fraction(predicted_reward[i], low, high), (240, 160, 60))),
            (2 * w, ["error", f"|err| {mae[i]:.3f}"], None)])
    return _captioned(canvas, h, w, captions)


# --- the world model ----------------------------------------------------------------------

def open_loop_frames(wm, episode: dict[str, np.ndarray], context: int, max_frames: int,
                     device) -> np.ndarray:
    """The open-loop video of `episode` (image, action, reward arrays) by world model `wm`
    (either family's `open_loop`), cut at `max_frames`; torch's random state is left as it
    was (the posterior samples draw from a fork of it)."""
    import torch

    image = episode["image"][:max_frames]
    action = episode["action"][:max_frames]
    reward = np.asarray(episode["reward"][:max_frames], np.float32)
    context = max(1, min(context, len(image) - 1))
    devices = [device.index or 0] if device.type == "cuda" else []
    training = wm.training
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        wm.eval()
        try:
            out = wm.open_loop(torch.as_tensor(image[None], device=device),
                               torch.as_tensor(action[None], device=device).float(), context)
        finally:
            wm.train(training)
        pred = torch.cat([out["recon"][:, :context], out["imagined"]], 1)[0].float()
        pred_reward = torch.cat([out["reward_post"][:, :context], out["reward_open_loop"]],
                                1)[0].float().cpu().numpy()
    # Decoder means are images in [-0.5, 0.5] (agents.nets.latent.preprocess), channels first.
    pred_image = ((pred.clamp(-0.5, 0.5) + 0.5) * 255).round().to(torch.uint8)
    pred_image = pred_image.permute(0, 2, 3, 1).cpu().numpy()
    return open_loop_video(image, pred_image, reward, pred_reward, context)


# --- files --------------------------------------------------------------------------------

def gif_bytes(frames: np.ndarray, fps: int = FPS) -> bytes:
    """Frames [T, H, W, 3] uint8 as an animated GIF (Pillow)."""
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000 / fps)), loop=0)
    return buf.getvalue()


def _write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    import imageio_ffmpeg

    t, h, w = frames.shape[:3]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec="libx264",
                                         quality=8, macro_block_size=16,
                                         ffmpeg_log_level="error")
    writer.send(None)  # start ffmpeg
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def write_video(path: str | Path, frames: np.ndarray, fps: int = FPS) -> Path:
    """Write frames [T, H, W, 3] uint8 to `path` (.mp4 or .gif) atomically; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # ffmpeg reads the suffix
    if path.suffix == ".mp4":
        _write_mp4(tmp, frames, fps)
    elif path.suffix == ".gif":
        tmp.write_bytes(gif_bytes(frames, fps))
    else:
        raise ValueError(f"videos are .mp4 or .gif, not {path.suffix!r}")
    os.replace(tmp, path)
    return path


def publish(run_dir: str | Path, step: int, frames: dict[str, np.ndarray], sinks=(),
            directory: str | Path | None = None) -> list[Path]:
    """Write each {kind: frames} video of `step` under `directory` (default RUN_DIR/videos/)
    and hand it to every sink (log.outputs) that shows videos; returns the paths."""
    paths = []
    for kind, video in frames.items():
        path = video_path(run_dir, kind, step)
        if directory is not None:
            path = Path(directory) / path.name
        paths.append(write_video(path, video))
        for sink in sinks:
            if hasattr(sink, "video"):
                sink.video(step, kind, paths[-1], video)
    return paths
