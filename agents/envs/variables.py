"""The environment variables the project reads, checked before any of them is used: a bad
value is one ConfigError line from the command line that reads it, before torch or a simulator
is imported (a wrong MUJOCO_GL otherwise fails inside `import mujoco`, 30 lines deep).
Imports nothing heavy."""

from __future__ import annotations

import os
from pathlib import Path

DATASETS_ENV = "HD_DATASETS"  # where offline datasets are cached (default: beside the runs)
VIDEOS_ENV = "HD_DISTRACTOR_VIDEOS"  # the distracting videos' folder when a task gives none
# Headless rendering: what MuJoCo (MUJOCO_GL) and PyOpenGL (PYOPENGL_PLATFORM) may be told.
GL_BACKENDS = ("egl", "osmesa", "glfw")
PYOPENGL_PLATFORMS = ("egl", "osmesa", "glx", "x11", "wayland", "xwayland", "linux", "posix")


def check_environment(environ: dict[str, str] | None = None) -> None:
    """ConfigError (one line, what to do) for a variable set to a value the project cannot
    use; unset variables take their defaults."""
    from agents.errors import ConfigError

    env = os.environ if environ is None else environ
    gl = env.get("MUJOCO_GL")
    if gl is not None and gl.strip().lower() not in GL_BACKENDS:
        raise ConfigError(f"MUJOCO_GL={gl!r} cannot render here; set it to one of "
                          f"{', '.join(GL_BACKENDS)} (egl by default), or unset it")
    platform = env.get("PYOPENGL_PLATFORM")
    if platform is not None:
        if platform.strip().lower() not in PYOPENGL_PLATFORMS:
            raise ConfigError(f"PYOPENGL_PLATFORM={platform!r} is not a PyOpenGL platform; "
                              f"use {', '.join(PYOPENGL_PLATFORMS[:2])} or unset it")
        chosen = (gl or "egl").strip().lower()
        if chosen in ("egl", "osmesa") and platform.strip().lower() != chosen:
            raise ConfigError(f"PYOPENGL_PLATFORM={platform} disagrees with MUJOCO_GL="
                              f"{chosen}; set both to {chosen}, or unset PYOPENGL_PLATFORM")
    for name, what in ((DATASETS_ENV, "the offline datasets' directory"),
                       (VIDEOS_ENV, "the distracting videos' directory")):
        value = env.get(name)
        if value is None:
            continue
        if not value.strip():
            raise ConfigError(f"{name} is set but empty; set it to {what}, or unset it")
        path = Path(value)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{name}={value} is not a directory; set it to {what}")
        if name == VIDEOS_ENV and not path.exists():
            raise ConfigError(f"{name}={value} does not exist; set it to {what}")
