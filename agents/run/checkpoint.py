"""Atomic checkpoints that keep the previous one.

`save` writes to a temporary file, fsyncs, moves the current checkpoint to `<name>.prev` and
renames the new one into place, so a crash at any point leaves at least one whole checkpoint.
`load_latest` falls back to the previous checkpoint when the newest is unreadable (truncated,
corrupt), with a one-line warning, and returns None when neither can be read.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch

from agents.files import writing


def previous(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def save(path: str | Path, state: dict[str, Any], keep_previous: bool = True) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with writing(path, tmp), open(tmp, "wb") as f:  # no half file left, whatever happens
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    if keep_previous and path.exists():
        os.replace(path, previous(path))
    os.replace(tmp, path)


def load(path: str | Path) -> dict[str, Any] | None:
    """One checkpoint file, or None if it does not exist; raises if it cannot be read."""
    path = Path(path)
    if not path.exists():
        return None
    # Our own files: they hold numpy RNG state and plain Python objects next to tensors.
    return torch.load(path, map_location="cpu", weights_only=False)


def load_latest(path: str | Path) -> dict[str, Any] | None:
    """The newest readable checkpoint of `path` and its predecessor, or None."""
    path = Path(path)
    for candidate in (path, previous(path)):
        try:
            state = load(candidate)
        except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError...
            print(f"warning: checkpoint {candidate} is unreadable ({type(exc).__name__}); "
                  "trying an older one", file=sys.stderr)
            continue
        if state is not None:
            if candidate != path:
                print(f"warning: resuming {path.parent} from the previous checkpoint "
                      f"{candidate.name}", file=sys.stderr)
            return state
    if path.exists() or previous(path).exists():
        print(f"warning: no readable checkpoint in {path.parent}; restarting the run from "
              "scratch", file=sys.stderr)
    return None
