"""DMC with distracting backgrounds: the paper's natural-background DMC, needing no files.

Task names: `dmc_distracted/<domain>-<task>[?bg=SOURCE&...]`, e.g.
`dmc_distracted/walker-walk` (synthetic videos, the default) or
`dmc_distracted/walker-walk?bg=video&src=~/kinetics/driving_car`.

As the official wrapper (wmlib-torch `natural_bg_dmc.py`) does, the suite's models are changed
so that the floor and sky are bluish (see `FLOOR`, `SKY_MARKS`), and every rendered pixel whose
blue channel exceeds both red and green is background: it is replaced by the source's frame.
The agent's pixels are never touched. Sources (`bg=`):

- `synthetic` (default): procedurally generated moving-shape videos, seeded, no files. A
  stand-in for the paper's Kinetics-400 `driving_car` videos, and labelled so (`describe`).
- `video`: the videos in folder `src`, or in $HD_DISTRACTOR_VIDEOS when `src` is not given
  (any format imageio reads): the paper's source, Kinetics-400 `driving_car` (docs/distracted.md).
- `color`: one random colour per episode; `noise`: Gaussian noise every frame.

Options: `frames` (frames kept in the video bank, official 1,000), `gray` (1: grayscale, the
official default), `seed` (which synthetic bank / which order of video files), `per_episode`
(1: each reset seed picks the colour or the bank offset; 0: the official behaviour, which never
resets its source, so one colour per environment and a video offset that runs on across
episodes, drawn at the first reset).
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from agents.envs.base import Obs, UnknownTaskError
from agents.envs.variables import VIDEOS_ENV  # the video folder when a task gives no src=

SOURCES = ("synthetic", "video", "color", "noise")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".gif")

# The official suite's model changes (facts from its local_dm_control_suite, not its files):
# the checker floor ("grid" texture) becomes blue so it is masked as background, the
# "decoration" material turns orange so it is not; walker, cheetah, hopper and stacker keep
# a dark grey floor (not masked) instead, with decoration as in dm_control.
FLOOR = {"rgb1": ".1 .1 .4", "rgb2": ".2 .2 .8", "markrgb": ".1 .1 .4"}
DECORATION = ".7 .5 .3 1"
GREY_FLOOR = {"rgb1": ".1 .1 .1", "rgb2": ".2 .2 .2", "markrgb": ".1 .1 .1"}
GREY_FLOOR_DOMAINS = ("walker", "cheetah", "hopper", "stacker")
SKY_MARKS = "0 0 0"  # the skybox's random marks: black, not white


@dataclass(frozen=True)
class Background:
    source: str = "synthetic"
    src: str = ""
    frames: int = 1000
    gray: bool = True
    seed: int = 0
    per_episode: bool = True


def parse_task(name: str) -> tuple[str, Background]:
    """`walker-walk?bg=video&src=DIR` -> ("walker-walk", Background(...)); UnknownTaskError
    (one line) for an unknown option or value. The DMC task name itself is checked by the
    caller (agents/envs/suites.py)."""
    base, _, query = name.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))) \
        if query else {}
    known = {"bg", "src", "frames", "gray", "seed", "per_episode"}
    if set(options) - known:
        raise UnknownTaskError(f"unknown background option(s) {sorted(set(options) - known)} in "
                               f"dmc_distracted/{name}; use {', '.join(sorted(known))}")
    source = options.get("bg", "synthetic")
    if source not in SOURCES:
        raise UnknownTaskError(f"unknown background source {source!r}; choose from "
                               f"{', '.join(SOURCES)}")
    if source != "video" and "src" in options:
        raise UnknownTaskError(f"src goes only with bg=video: dmc_distracted/{name}")
    if source == "video" and not options.get("src", os.environ.get(VIDEOS_ENV)):
        raise UnknownTaskError(f"bg=video needs src=FOLDER or ${VIDEOS_ENV} (the paper's videos "
                               "are Kinetics-400 driving_car: docs/distracted.md), or choose "
                               "other tasks with --tasks")
    try:
        src = options.get("src", os.environ.get(VIDEOS_ENV, "")) if source == "video" else ""
        bg = Background(source, src, int(options.get("frames", 1000)),
                        _flag(options.get("gray", "1")), int(options.get("seed", 0)),
                        _flag(options.get("per_episode", "1")))
    except ValueError as exc:
        raise UnknownTaskError(f"bad background option in dmc_distracted/{name}: {exc}") from None
    if bg.frames < 1:
        raise UnknownTaskError(f"frames must be >= 1 in dmc_distracted/{name}")
    return base, bg


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, got {text!r}")
    return text == "1"


def describe(task: str) -> str:
    """What a dmc_distracted task's background is, for reports: says when it is a stand-in."""
    name = task.partition("/")[2]
    base, bg = parse_task(name)
    what = {"synthetic": "synthetic moving-shape videos (a stand-in for the paper's Kinetics "
                         "driving_car videos)",
            "video": f"videos from {bg.src}", "color": "a random colour per episode",
            "noise": "Gaussian noise"}[bg.source]
    return f"{base} with {what} in the background"


def video_files(folder: str) -> list[Path]:
    """The video files of `folder`, sorted; ValueError (one line) when there are none."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"background video folder {folder!r} does not exist")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise ValueError(f"background video folder {folder!r} has no videos "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    return files


@functools.cache
def check_background(bg: Background) -> None:
    """Fail early, in one line, on a source that cannot be read: every video must decode."""
    if bg.source != "video":
        return
    for path in video_files(bg.src):
        next(iter(_read_frames(path)))


def _read_frames(path: Path):
    import imageio.v3 as iio

    try:
        yield from iio.imiter(path)
    except Exception as exc:  # imageio raises many kinds, by plugin
        raise ValueError(f"cannot read background video {path}: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


def _resize(frame: np.ndarray, size: int, gray: bool) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.asarray(frame)[..., :3].astype(np.uint8))
    img = img.convert("L" if gray else "RGB").resize((size, size), Image.BILINEAR)
    out = np.asarray(img)
    return out[..., None] if gray else out


def video_bank(bg: Background, size: int) -> np.ndarray:
    """The first `bg.frames` frames of the folder's videos, in an order shuffled by `bg.seed`,
    resized to size x size (uint8 [N, H, W, 1 or 3])."""
    files = video_files(bg.src)
    order = np.random.default_rng(bg.seed).permutation(len(files))
    frames: list[np.ndarray] = []
    while len(frames) < bg.frames:
        for i in order:
            for frame in _read_frames(files[i]):
                frames.append(_resize(frame, size, bg.gray))
                if len(frames) == bg.frames:
                    return np.stack(frames)
    return np.stack(frames)


def synthetic_bank(frames: int, size: int, gray: bool, seed: int, clip: int = 100,
                   shapes: int = 6) -> np.ndarray:
    """Moving-shape videos (uint8 [frames, H, W, 1 or 3]): clips of `clip` frames, each a
    smooth random backdrop with `shapes` discs and boxes of random shade, size and velocity
    that bounce off the edges. Seeded; no files."""
    rng = np.random.default_rng(seed)
    channels = 1 if gray else 3
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.empty((frames, size, size, channels), np.uint8)
    for start in range(0, frames, clip):
        n = min(clip, frames - start)
        # Backdrop: a random linear gradient between two shades.
        a, b = rng.uniform(0, 255, (2, channels))
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / size * 0.5 + 0.5
        backdrop = a + (b - a) * ramp[..., None]
        pos = rng.uniform(0, size, (shapes, 2))
        vel = rng.uniform(-2.5, 2.5, (shapes, 2))
        radius = rng.uniform(size / 16, size / 5, shapes)
        shade = rng.uniform(0, 255, (shapes, channels))
        disc = rng.random(shapes) < 0.5
        for t in range(n):
            img = backdrop.copy()
            for k in range(shapes):
                dy, dx = yy - pos[k, 0], xx - pos[k, 1]
                inside = (dy**2 + dx**2 <= radius[k] ** 2) if disc[k] else (
                    (np.abs(dy) <= radius[k]) & (np.abs(dx) <= radius[k]))
                img[inside] = shade[k]
            out[start + t] = np.clip(img, 0, 255).astype(np.uint8)
            pos += vel
            for axis in range(2):  # bounce off the edges
                low, high = pos[:, axis] < 0, pos[:, axis] > size
                vel[low | high, axis] *= -1
                pos[:, axis] = np.clip(pos[:, axis], 0, size)
    return out


class BackgroundSource:
    """Frames to paint behind the agent: `reset(seed)` at each episode, `frame()` per render."""

    def __init__(self, bg: Background, size: int):
        self.bg, self.size = bg, size
        self.bank: np.ndarray | None = None
        if bg.source == "synthetic":
            self.bank = synthetic_bank(bg.frames, size, bg.gray, bg.seed)
        elif bg.source == "video":
            self.bank = video_bank(bg, size)
        self._rng = np.random.default_rng(0)
        self._loc, self._color = 0, np.zeros(3, np.uint8)
        self._started = False

    def reset(self, seed: int) -> None:
        if self._started and not self.bg.per_episode:
            return  # the official source is never reset: it runs on
        self._started = True
        self._rng = np.random.default_rng([self.bg.seed, int(seed) % 2**63])
        self._color = self._rng.integers(0, 256, 3).astype(np.uint8)
        if self.bank is not None:
            self._loc = int(self._rng.integers(len(self.bank)))

    def frame(self) -> np.ndarray:
        """The next background frame, uint8 [H, W, 1 or 3]."""
        if self.bank is not None:
            img = self.bank[self._loc % len(self.bank)]
            self._loc += 1
            return img
        if self.bg.source == "color":
            return np.broadcast_to(self._color, (self.size, self.size, 3))
        # The official noise is randn * 255 cast into uint8 unclipped; clipped here.
        noise = self._rng.standard_normal((self.size, self.size, 3)) * 255
        return np.clip(noise, 0, 255).astype(np.uint8)


def background_mask(image: np.ndarray) -> np.ndarray:
    """The official rule: a pixel is background where blue > green and blue > red."""
    r, g, b = (image[..., i].astype(np.int16) for i in range(3))
    return (b > g) & (b > r)


def composite(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """`image` with its background pixels replaced by `background` (grey broadcast to RGB)."""
    out = image.copy()
    mask = background_mask(image)
    out[mask] = np.broadcast_to(background, image.shape)[mask]
    return out


def distracted_model(domain: str) -> tuple[bytes, dict[str, bytes]]:
    """The domain's dm_control model XML and assets with the official suite changes."""
    import importlib

    xml, assets = importlib.import_module(f"dm_control.suite.{domain}").get_model_and_assets()
    assets = dict(assets)
    materials = ET.fromstring(assets["./common/materials.xml"])
    grid = materials.find(".//texture[@name='grid']")
    grid.attrib.update(GREY_FLOOR if domain in GREY_FLOOR_DOMAINS else FLOOR)
    if domain not in GREY_FLOOR_DOMAINS:
        materials.find(".//material[@name='decoration']").set("rgba", DECORATION)
    assets["./common/materials.xml"] = ET.tostring(materials)
    sky = ET.fromstring(assets["./common/skybox.xml"])
    sky.find(".//texture[@name='skybox']").set("markrgb", SKY_MARKS)
    assets["./common/skybox.xml"] = ET.tostring(sky)
    return xml, assets


class Distracted:
    """A DMC env (built on `distracted_model`) whose background pixels show `source` frames;
    everything else (actions, rewards, state, episode length) is the wrapped env's."""

    def __init__(self, env: Any, bg: Background, size: int):
        self._env, self.background = env, bg
        self.source = BackgroundSource(bg, size)

    def __getattr__(self, name: str) -> Any:  # action_dim, state_dim, episode_length...
        return getattr(self._env, name)

    def _paint(self, obs: Obs) -> Obs:
        return {**obs, "image": composite(obs["image"], self.source.frame())}

    def reset(self, seed: int) -> tuple[Obs, dict[str, Any]]:
        self.source.reset(seed)
        obs, info = self._env.reset(seed)
        return self._paint(obs), info

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        obs, *rest = self._env.step(action)
        return (self._paint(obs), *rest)

    def close(self) -> None:
        self._env.close()
