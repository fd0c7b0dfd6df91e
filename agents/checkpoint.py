"""Atomic checkpoints: torch.save to a temporary file, fsync, then rename over the old one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: str | Path) -> dict[str, Any] | None:
    path = Path(path)
    if not path.exists():
        return None
    # Our own files: they hold numpy RNG state and plain Python objects next to tensors.
    return torch.load(path, map_location="cpu", weights_only=False)
