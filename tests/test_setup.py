"""scripts/setup.sh installs every Debian package headless rendering loads.

Each renderer (MUJOCO_GL=egl and =osmesa) renders a frame through MuJoCo's own context
(mujoco.Renderer, what Meta-world uses) and through dm_control's (Physics.render, what the DMC
suites use) in a fresh process, which then lists the shared libraries it has mapped. Every one
that Python and numpy had not already loaded and that a Debian package owns (`dpkg-query -S`)
must come from scripts/debian-packages.txt (setup.sh's one list), from a package those depend
on (`apt-cache depends --recurse`), or from Debian's python3 and its dependencies. Without
libopengl0 in the list it fails: libOpenGL.so.0, which PyOpenGL's EGL platform loads first,
is in no listed package's dependencies.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "scripts" / "debian-packages.txt"

# Runs in a fresh interpreter: argv[1] is the backend. Prints the libraries mapped before the
# renderers load, a separator, then those mapped after both have rendered a frame.
PROBE = r"""
import os, sys
os.environ["MUJOCO_GL"] = os.environ["PYOPENGL_PLATFORM"] = sys.argv[1]
import ctypes, numpy

def mapped():
    with open("/proc/self/maps") as f:
        return {p[5] for p in (line.split() for line in f) if len(p) >= 6 and ".so" in p[5]}

before = mapped()
XML = "<mujoco><worldbody><light pos='0 0 3'/><geom size='1'/></worldbody></mujoco>"
import mujoco
model = mujoco.MjModel.from_xml_string(XML)
data = mujoco.MjData(model)
renderer = mujoco.Renderer(model, 16, 16)
renderer.update_scene(data)
assert renderer.render().shape == (16, 16, 3)
from dm_control import mujoco as dm_mujoco
assert dm_mujoco.Physics.from_xml_string(XML).render(16, 16).shape == (16, 16, 3)
print("\n".join(sorted(before)), "--", "\n".join(sorted(mapped())), sep="\n", flush=True)
os._exit(0)  # dm_control's exit-time context cleanup only adds noise
"""


def listed() -> list[str]:
    """scripts/debian-packages.txt: one package a line, `#` comments."""
    names = [line.split("#")[0].strip() for line in PACKAGES.read_text().splitlines()]
    return [n for n in names if n]


@functools.cache
def loaded_libraries(backend: str) -> set[str]:
    """The shared libraries that rendering with `backend` maps, beyond Python's and numpy's."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    proc = subprocess.run([sys.executable, "-c", PROBE, backend], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, f"{backend} did not render:\n{proc.stderr[-2000:]}"
    before, after = proc.stdout.split("\n--\n")
    return set(after.split()) - set(before.split())


def owner(path: str) -> str | None:
    """The Debian package that installed `path` (also under its /lib <-> /usr/lib twin)."""
    candidates = [path]
    if path.startswith("/usr/lib/"):
        candidates.append(path.removeprefix("/usr"))
    elif path.startswith("/lib/"):
        candidates.append("/usr" + path)
    for p in candidates:
        proc = subprocess.run(["dpkg-query", "-S", p], capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout.split(":")[0].split(",")[0].strip()
    return None


@functools.cache
def with_dependencies(packages: tuple[str, ...]) -> set[str]:
    """`packages` and everything they depend on, recursively (any version, any alternative)."""
    proc = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
        capture_output=True, text=True, check=True)
    names = set(packages)
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(?:\|?(?:Pre)?Depends: )?<?([a-z0-9][a-z0-9+.-]*)(?::\w+)?>?$", line)
        if m:
            names.add(m.group(1))
    return names


def uncovered(backend: str, packages: list[str]) -> dict[str, str]:
    """Each library `backend` loads whose package is in neither `packages`' closure nor Python's
    (Debian's python3 and what it depends on: the bare machine setup.sh starts from)."""
    covered = with_dependencies((*packages, "python3"))
    owners = {path: owner(path) for path in loaded_libraries(backend)}
    return {path: pkg for path, pkg in owners.items() if pkg is not None and pkg not in covered}


debian = pytest.mark.skipif(not (shutil.which("dpkg-query") and shutil.which("apt-cache")),
                            reason="not a Debian system: no dpkg-query / apt-cache")


@debian
@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_setup_installs_every_library_the_renderers_load(backend):
    missing = uncovered(backend, listed())
    assert not missing, (f"scripts/debian-packages.txt misses what MUJOCO_GL={backend} loads: "
                         + ", ".join(f"{p} ({pkg})" for p, pkg in sorted(missing.items())))


@debian
def test_the_check_fails_without_libopengl0():
    """The can-fail check: with libopengl0 left out, libOpenGL.so.0 (EGL's GL) is uncovered."""
    assert "libopengl0" in listed()
    missing = uncovered("egl", [p for p in listed() if p != "libopengl0"])
    assert "libopengl0" in missing.values(), missing


def test_setup_reads_the_list():
    """setup.sh installs from the list (the test's source), not from a copy of its own."""
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/debian-packages.txt" in setup
    assert not any(re.search(rf"\b{re.escape(p)}\b", setup) for p in listed())
