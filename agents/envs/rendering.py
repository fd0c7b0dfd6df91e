"""MuJoCo rendering: the headless GL backend (set before mujoco loads, so every suite module
that renders imports this first) and the render-quality options set on a model."""

from __future__ import annotations

import os
from typing import Any

# MuJoCo picks its GL backend at import time; EGL renders headless through Mesa on a CPU.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
# Mesa's llvmpipe renders a 64x64 frame faster in the calling thread than split over worker
# threads (measured ~1.3x Meta-world, ~1.6x DMC on 2 cores), and leaves the cores to torch.
os.environ.setdefault("LP_NUM_THREADS", "0")

RENDER = ("fast", "light", "default")


def configure_rendering(model: Any, size: int, quality: str) -> None:
    """Set render options on the model before the first frame.

    light: an offscreen buffer that matches the output, a small shadow map, no multisampling.
    fast: light, plus no shadows and no reflections (each costs another scene pass) and
    coarser primitive shapes; every object the tasks need (lever, handle, hammer, nail, DMC
    bodies) stays visible.
    """
    if quality not in RENDER:
        raise ValueError(f"unknown render quality {quality!r}; choose from {', '.join(RENDER)}")
    if quality == "default":
        return
    model.vis.quality.shadowsize = 256
    model.vis.quality.offsamples = 0
    model.vis.global_.offwidth = size
    model.vis.global_.offheight = size
    if quality == "fast":
        model.light_castshadow[:] = 0
        model.mat_reflectance[:] = 0
        # Coarser spheres / capsules / cylinders (meshes are unaffected); invisible at 64x64.
        model.vis.quality.numslices = 12
        model.vis.quality.numstacks = 8
