"""DMC Remastered: DMC tasks whose visuals are redrawn every episode, dynamics untouched.

Task names: `dmc_remastered/<domain>-<task>[?textures=DIR&vary=...&visual_seed=K]`, e.g.
`dmc_remastered/walker-walk` (no files) or `dmc_remastered/cheetah-run?textures=~/dmcr/assets`.

A DMC Remastered (DMCR) environment renders the same simulation with a "visual seed". As in the
official usage (wmlib-torch `envs/dmc_remastered.py`: a new visual seed in 1..1,000,000 at every
reset), every reset draws one here, but from the reset seed, so episodes reproduce. The seed
feeds the same draws, in the same order and ranges, as the official `dmcr` package:

- floor and sky: with `textures=DIR`, a floor image from DIR/floors and a sky image from
  DIR/skies (DMCR's own `assets` folder has both) and a floor reflectance in [0, 0.5]; without
  files, random colours for the checker floor and the gradient sky (DMCR's colour variant).
- body, effector and target material colours: RGB uniform, alpha in [0.75, 1].
- the headlight's ambient, diffuse and specular colour; the domain light's position (and, for
  finger, its diffuse and specular colour); the domain camera's position (hopper: and its Euler
  angles, pendulum: its tilt). Ranges per domain: `JITTER`.

Only visual fields of the model change (cameras, lights, materials, textures, headlight): each
reset compiles the redrawn MJCF and copies those fields into the live model, so the simulation
is the plain `dmc/` one. What differs from the real DMCR is listed in docs/distracted.md.

Options: `textures` (the folder above), `vary` (a comma list of bg, floor, body, target,
reflectance, camera, light: DMCR's factors; default all of them, and for hopper all but camera,
as HarmonyDream's `dmcr_hopper` config), `visual_seed` (one fixed visual seed for every episode,
DMCR's "classic" benchmark; 0 keeps the suite's look).
"""

from __future__ import annotations

import functools
import importlib
import io
import random
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from agents.envs.base import Obs, UnknownTaskError

VARY = ("bg", "floor", "body", "target", "reflectance", "camera", "light")  # DMCR's factors
# HarmonyDream's configs/dreamerv2.yaml `dmcr_hopper`: hopper keeps its camera still.
DEFAULT_VARY = {"hopper": tuple(v for v in VARY if v != "camera")}
SEEDS = (1, 1_000_000)  # the official draws a visual seed uniformly from this range per reset
TEXTURE_SIZE = 800  # DMCR's grid and skybox textures are 800 px a side
TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
SKY_FILE, FLOOR_FILE = "dmcr_sky.png", "dmcr_floor.png"  # their names among the model's assets

Range = tuple[float, float]


@dataclass(frozen=True)
class Jitter:
    """One domain's camera and light draws, in the official order. Attribute names are MJCF
    ones (`light_` for the light): `pos`, `euler` (degrees), `xyaxes` (pendulum's tilt, the
    one number in "1 0 0 0 tilt 1"), `light_pos`, and `light_diffuse` / `light_specular`
    (a base, then a per-channel offset)."""

    camera: str
    light: str | None
    draws: tuple[tuple[str, tuple[Range, ...]], ...]


# Facts from the official per-domain files (wmlib-torch/wmlib/envs/dmcr/<domain>.py); the
# camera is each domain's camera 0, the one HarmonyDream renders.
JITTER = {
    "walker": Jitter("side", None, (("pos", ((-0.3, 0.3), (-2.05, -1.95), (0.6, 0.8))),)),
    "cheetah": Jitter("side", "light", (("pos", ((-0.25, 0.25), (-3.2, -2.8), (-0.25, 0.25))),
                                        ("light_pos", ((-2, 2), (-2, 2), (1, 5))))),
    "hopper": Jitter("cam0", None, (("pos", ((-0.15, 0.15), (-3.0, -2.6), (0.6, 1.0))),
                                    ("euler", ((85, 95), (-5, 5), (-5, 5))))),
    "cartpole": Jitter("fixed", "light", (("pos", ((-0.15, 0.15), (-5.0, -3.0), (0.8, 1.2))),
                                          ("light_pos", ((-1, 1), (-1, 1), (4.5, 7.5))))),
    "finger": Jitter("cam0", "light", (("pos", ((-0.02, 0.02), (-1.01, -0.99), (0.7, 1.0))),
                                       ("light_pos", ((-0.8, 0.8), (-0.8, 0.8), (1.0, 3.0))),
                                       ("light_diffuse", ((0.5, 1.1), (-0.02, 0.02))),
                                       ("light_specular", ((0.0, 1.2), (-0.02, 0.02))))),
    "reacher": Jitter("fixed", "light", (("pos", ((-0.05, 0.05), (-0.05, 0.05), (0.7, 0.8))),
                                         ("light_pos", ((-0.2, 0.2), (-0.2, 0.2), (0.15, 0.75))))),
    # The official y range is written high-to-low (-0.9, -1.1); kept so draws match.
    "ball_in_cup": Jitter("cam0", "light", (("pos", ((-0.05, 0.05), (-0.9, -1.1), (0.8, 1.0))),
                                            ("light_pos", ((-0.5, 0.5), (-0.5, 0.5), (1.2, 2.7))))),
    "pendulum": Jitter("fixed", "light", (("xyaxes", ((0.4, 0.6),)),
                                          ("pos", ((0.0, 0.2), (-1.1, -0.97), (1.3, 1.6))),
                                          ("light_pos", ((-0.5, 0.5), (-0.2, 0.2), (1.2, 2.8))))),
}
# DMCR widens cheetah's floor strip (official cheetah.py) so the floor fills the view.
FLOOR_SIZE = {"cheetah": ("ground", "100 15 .5")}
# Headlight (official generate_visuals.py): a base, then a per-channel offset.
AMBIENT, DIFFUSE, SPECULAR = ((0.1, 0.8), (-0.05, 0.05)), ((0.4, 0.9), (-0.1, 0.1)), \
    ((0.05, 0.3), (-0.02, 0.02))
SHADOWSIZE = (2048 - 500, 2048 + 500)
REFLECTANCE = (0.0, 0.5)
ALPHA = (0.75, 1.0)


def remastered_tasks() -> list[str]:
    """The `dmc/` tasks DMCR also covers (all but quadruped)."""
    from agents.envs.dmc import DMC_TASKS

    return [name for name, (domain, _) in DMC_TASKS.items() if domain in JITTER]


@dataclass(frozen=True)
class Remaster:
    textures: str = ""
    vary: tuple[str, ...] = VARY
    visual_seed: int | None = None  # None: drawn from each reset seed


def parse_task(name: str) -> tuple[str, Remaster]:
    """`walker-walk?textures=DIR` -> ("walker-walk", Remaster(...)); UnknownTaskError (one
    line) for an unknown task, option or value."""
    from agents.envs.dmc import DMC_TASKS

    base, _, query = name.partition("?")
    tasks = remastered_tasks()
    if base not in tasks:
        extra = " (DMC Remastered has no quadruped)" if base in DMC_TASKS else ""
        raise UnknownTaskError(f"unknown DMC Remastered task {base!r}{extra}; known: "
                               f"{', '.join(tasks)}")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))) \
        if query else {}
    known = {"textures", "vary", "visual_seed"}
    if set(options) - known:
        raise UnknownTaskError(f"unknown option(s) {sorted(set(options) - known)} in "
                               f"dmc_remastered/{name}; use {', '.join(sorted(known))}")
    domain = DMC_TASKS[base][0]
    vary = tuple(v for v in options.get("vary", ",".join(DEFAULT_VARY.get(domain, VARY)))
                 .split(",") if v)
    if set(vary) - set(VARY):
        raise UnknownTaskError(f"unknown vary factor(s) {sorted(set(vary) - set(VARY))} in "
                               f"dmc_remastered/{name}; choose from {', '.join(VARY)}")
    try:
        seed = int(options["visual_seed"]) if "visual_seed" in options else None
    except ValueError:
        raise UnknownTaskError(f"visual_seed must be an integer in dmc_remastered/{name}") \
            from None
    if seed is not None and not 0 <= seed <= SEEDS[1]:
        raise UnknownTaskError(f"visual_seed must be in 0..{SEEDS[1]} in dmc_remastered/{name}")
    if "textures" in options and not options["textures"]:
        raise UnknownTaskError(f"textures= needs a folder in dmc_remastered/{name}")
    return base, Remaster(options.get("textures", ""), vary, seed)


def texture_files(folder: str) -> tuple[list[Path], list[Path]]:
    """(skies, floors): the images of DIR/skies and DIR/floors, sorted (the layout of DMCR's
    `assets` folder); ValueError (one line) when either is missing or holds no image."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"DMC Remastered texture folder {folder!r} does not exist")
    out = []
    for sub in ("skies", "floors"):
        files = sorted(p for p in (path / sub).glob("*") if p.suffix.lower() in TEXTURE_SUFFIXES)
        if not files:
            raise ValueError(f"DMC Remastered texture folder {folder!r} has no images in "
                             f"{sub}/ ({', '.join(TEXTURE_SUFFIXES)}); it should be DMCR's "
                             "assets folder, with skies/ and floors/ (docs/distracted.md)")
        out.append(files)
    return out[0], out[1]


def check_remaster(remaster: Remaster) -> None:
    """Fail early, in one line (ValueError), on a texture folder that cannot be used."""
    if remaster.textures:
        texture_files(remaster.textures)


def describe(task: str) -> str:
    """What a dmc_remastered task's visuals are, for reports: says what stands in for what."""
    base, remaster = parse_task(task.partition("/")[2])
    seeds = ("one visual seed per episode" if remaster.visual_seed is None
             else f"visual seed {remaster.visual_seed}")
    if remaster.textures:
        look = f"DMCR floor and sky images from {remaster.textures}"
    else:
        look = ("random floor and sky colours standing in for DMCR's floor and sky images, "
                "as no textures= folder was given")
    vary = ", ".join(remaster.vary)
    return f"{base} with DMC Remastered visuals ({seeds}; {look}; varying {vary})"


Rgb = tuple[float, float, float]
Rgba = tuple[float, float, float, float]


@dataclass(frozen=True)
class Visuals:
    """One visual seed's draws; None where the factor is not varied (the suite's own look)."""

    seed: int
    sky: Path | None = None  # textures: an image
    floor: Path | None = None
    reflectance: float | None = None
    sky_rgb: tuple[Rgb, Rgb] | None = None  # no textures: the gradient's two colours
    floor_rgb: tuple[Rgb, Rgb] | None = None  # and the checker's
    body: Rgba | None = None
    effector: Rgba | None = None
    target: Rgba | None = None
    headlight: dict[str, Rgb] = field(default_factory=dict)  # ambient, diffuse, specular
    shadowsize: int | None = None  # drawn, not applied (see docs/distracted.md)
    camera: dict[str, str] = field(default_factory=dict)  # MJCF attributes of the camera
    light: dict[str, str] = field(default_factory=dict)  # and of the light


def visual_seed(reset_seed: int) -> int:
    """The visual seed of an episode, in the official range 1..1,000,000."""
    rng = np.random.default_rng([0xD3C2, int(reset_seed) % 2**63])
    return int(rng.integers(SEEDS[0], SEEDS[1] + 1))


def _rgb(rng: random.Random) -> Rgb:
    return (rng.random(), rng.random(), rng.random())


def _rgba(rng: random.Random) -> Rgba:
    alpha = rng.uniform(*ALPHA)  # the official draws the alpha first
    return (*_rgb(rng), alpha)


def _offset(rng: random.Random, base: Range, delta: Range) -> Rgb:
    b = rng.uniform(*base)
    r, g, bl = rng.uniform(*delta), rng.uniform(*delta), rng.uniform(*delta)
    return (b + r, b + g, b + bl)


def _text(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def draw_visuals(domain: str, seed: int, remaster: Remaster, skies: Sequence[Path] = (),
                 floors: Sequence[Path] = ()) -> Visuals:
    """The visuals of visual seed `seed` (0: none). Two streams seeded by `seed`, as the
    official's: the domain's camera and light, then the shared floor, sky, colours and
    headlight. Every draw is made whatever `remaster.vary` says, so a factor switched off
    does not change the others."""
    if seed == 0:
        return Visuals(0)
    vary = set(remaster.vary)
    rng = random.Random(seed)
    jitter = JITTER[domain]
    camera, light = {}, {}
    for attr, ranges in jitter.draws:
        if attr in ("light_diffuse", "light_specular"):
            values: tuple[float, ...] = _offset(rng, *ranges)
        else:
            values = tuple(rng.uniform(*r) for r in ranges)
        if attr == "xyaxes":
            values = (1, 0, 0, 0, values[0], 1)
        if attr.startswith("light_"):
            light[attr.removeprefix("light_")] = _text(values)
        else:
            camera[attr] = _text(values)
    rng = random.Random(seed)
    out: dict[str, Any] = {}
    if remaster.textures:  # the official positive-seed branch: images
        sky, floor = rng.choice(list(skies)), rng.choice(list(floors))
        reflectance = rng.uniform(*REFLECTANCE)
        out.update(sky=sky if "bg" in vary else None, floor=floor if "floor" in vary else None,
                   reflectance=reflectance if "reflectance" in vary else None)
    else:  # its negative-seed branch: colours of the builtin sky and floor
        sky_rgb, floor_rgb = (_rgb(rng), _rgb(rng)), (_rgb(rng), _rgb(rng))
        out.update(sky_rgb=sky_rgb if "bg" in vary else None,
                   floor_rgb=floor_rgb if "floor" in vary else None)
    body, effector, target = _rgba(rng), _rgba(rng), _rgba(rng)
    if "body" in vary:
        out.update(body=body, effector=effector)
    if "target" in vary:
        out.update(target=target)
    headlight = {"ambient": _offset(rng, *AMBIENT), "diffuse": _offset(rng, *DIFFUSE),
                 "specular": _offset(rng, *SPECULAR)}
    shadowsize = rng.randint(*SHADOWSIZE)
    if "light" in vary:
        out.update(headlight=headlight, shadowsize=shadowsize, light=light)
    if "camera" in vary:
        out.update(camera=camera)
    return Visuals(seed, **out)


@functools.lru_cache(maxsize=32)
def _texture_png(path: Path) -> bytes:
    """An image as a TEXTURE_SIZE-square RGB PNG, the size of DMCR's textures, so that every
    episode's texture fits the live model's texture slot."""
    from PIL import Image

    try:
        img = Image.open(path).convert("RGB").resize((TEXTURE_SIZE, TEXTURE_SIZE),
                                                      Image.BILINEAR)
    except Exception as exc:  # PIL raises many kinds, by format
        first = (str(exc).splitlines() or [""])[0][:200]
        raise ValueError(f"cannot read DMC Remastered texture {path}: "
                         f"{type(exc).__name__}: {first}") from None
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()



def _paint(texture: ET.Element, image: Path | None, rgb: tuple[Rgb, Rgb] | None, filename: str,
           assets: dict[str, bytes]) -> None:
    """Give a floor or sky texture an image (it becomes a file asset) or its two colours."""
    if image is not None:
        for k in ("builtin", "rgb1", "rgb2", "mark", "markrgb", "width", "height"):
            texture.attrib.pop(k, None)
        texture.set("file", filename)
        assets[filename] = _texture_png(image)
    if rgb is not None:
        texture.attrib.update(rgb1=_text(rgb[0]), rgb2=_text(rgb[1]))

def remastered_model(domain: str, visuals: Visuals | None = None) -> tuple[bytes, dict]:
    """The domain's dm_control model XML and assets with DMCR's defaults (800 px checker
    floor repeated 3 times a metre, cheetah's wide floor) and `visuals` applied."""
    xml, assets = importlib.import_module(f"dm_control.suite.{domain}").get_model_and_assets()
    assets = dict(assets)
    v = visuals or Visuals(0)
    root = ET.fromstring(xml)
    if domain in FLOOR_SIZE:
        geom, size = FLOOR_SIZE[domain]
        root.find(f".//geom[@name='{geom}']").set("size", size)
    jitter = JITTER[domain]
    if v.camera:
        cam = root.find(f".//camera[@name='{jitter.camera}']")
        if any(k in v.camera for k in ("euler", "xyaxes")):
            for k in ("quat", "euler", "xyaxes", "zaxis", "axisangle"):
                cam.attrib.pop(k, None)
        cam.attrib.update(v.camera)
    if v.light:
        root.find(f".//light[@name='{jitter.light}']").attrib.update(v.light)

    materials = ET.fromstring(assets["./common/materials.xml"])
    grid = materials.find(".//texture[@name='grid']")
    grid.attrib.update(width=str(TEXTURE_SIZE), height=str(TEXTURE_SIZE))
    grid_material = materials.find(".//material[@name='grid']")
    grid_material.set("texrepeat", "3 3")
    _paint(grid, v.floor, v.floor_rgb, FLOOR_FILE, assets)
    if v.reflectance is not None:
        grid_material.set("reflectance", repr(v.reflectance))
    for name, rgba in (("self", v.body), ("effector", v.effector), ("target", v.target)):
        if rgba is not None:
            materials.find(f".//material[@name='{name}']").set("rgba", _text(rgba))
    assets["./common/materials.xml"] = ET.tostring(materials)

    sky_xml = ET.fromstring(assets["./common/skybox.xml"])
    sky = sky_xml.find(".//texture[@name='skybox']")
    sky.attrib.update(width=str(TEXTURE_SIZE), height=str(TEXTURE_SIZE))
    _paint(sky, v.sky, v.sky_rgb, SKY_FILE, assets)
    assets["./common/skybox.xml"] = ET.tostring(sky_xml)

    if v.headlight:
        visual = ET.fromstring(assets["./common/visual.xml"])
        visual.find(".//headlight").attrib.update({k: _text(c) for k, c in v.headlight.items()})
        assets["./common/visual.xml"] = ET.tostring(visual)
    return ET.tostring(root), assets


# The model fields a visual seed may change; none of them enters the dynamics.
VISUAL_FIELDS = ("cam_pos", "cam_quat", "cam_pos0", "cam_mat0", "cam_poscom0",
                 "light_pos", "light_dir", "light_pos0", "light_dir0", "light_poscom0",
                 "light_diffuse", "light_specular", "light_ambient",
                 "mat_rgba", "mat_reflectance", "mat_texrepeat")
TEXTURE_LAYOUT = ("tex_type", "tex_width", "tex_height", "tex_nchannel", "tex_adr")


def restyle(physics: Any, model: tuple[bytes, dict], size: int, render: str) -> None:
    """Give a live dm_control `physics` the visuals of `model` (an XML and assets of the same
    domain): its visual fields are copied in and changed textures uploaded to the renderer.
    Where the texture layout differs (images in place of builtin textures: once, at the first
    textured reset) the whole model is reloaded instead."""
    import mujoco

    from agents.envs.rendering import configure_rendering

    new = mujoco.MjModel.from_xml_string(*model)
    live = physics.model
    same = new.ntex == live.ntex and all(
        np.array_equal(getattr(new, f), getattr(live, f)) for f in TEXTURE_LAYOUT)
    if not same:
        physics.reload_from_xml_string(*model)
        configure_rendering(physics.model, size, render)
        return
    for name in VISUAL_FIELDS:
        getattr(live, name)[...] = getattr(new, name)
    for name in ("ambient", "diffuse", "specular"):
        setattr(live.vis.headlight, name, getattr(new.vis.headlight, name))
    changed = []
    for t in range(new.ntex):
        start = int(new.tex_adr[t])
        end = start + int(new.tex_width[t] * new.tex_height[t] * new.tex_nchannel[t])
        if not np.array_equal(live.tex_data[start:end], new.tex_data[start:end]):
            live.tex_data[start:end] = new.tex_data[start:end]
            changed.append(t)
    configure_rendering(live, size, render)  # `fast` turns reflections back off
    if changed:
        contexts = physics.contexts
        with contexts.gl.make_current() as ctx:
            for t in changed:
                ctx.call(mujoco.mjr_uploadTexture, live.ptr, contexts.mujoco.ptr, t)


class Remastered:
    """A DMC env (`agents.envs.dmc.DMCEnv`) whose visuals are redrawn at every reset from
    a visual seed (fixed, or drawn from the reset seed); the simulation is the wrapped env's."""

    def __init__(self, env: Any, domain: str, remaster: Remaster):
        self._env, self.domain, self.remaster = env, domain, remaster
        self._skies, self._floors = texture_files(remaster.textures) if remaster.textures \
            else ([], [])
        self.visuals = Visuals(0)

    def __getattr__(self, name: str) -> Any:  # action_dim, state_dim, episode_length...
        return getattr(self._env, name)

    def reset(self, seed: int) -> tuple[Obs, dict[str, Any]]:
        vs = self.remaster.visual_seed
        vs = visual_seed(seed) if vs is None else vs
        if vs != self.visuals.seed:  # seed 0 is the model built at construction
            self.visuals = draw_visuals(self.domain, vs, self.remaster, self._skies,
                                        self._floors)
            restyle(self._env.physics, remastered_model(self.domain, self.visuals),
                    self._env.size, self._env.render)
        return self._env.reset(seed)

    def step(self, action: np.ndarray) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        return self._env.step(action)

    def close(self) -> None:
        self._env.close()
