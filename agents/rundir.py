"""A run directory's identity and the process settings a run starts with."""

from __future__ import annotations

import json
from pathlib import Path

from agents.config import Config, ConfigError, config_from_dict, identity
from agents.files import atomic_write_text


def set_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def check_config(out: Path, cfg: Config) -> None:
    """Write config.json, or refuse a directory that holds a run with another config."""
    path = out / "config.json"
    if path.exists():
        theirs = config_from_dict(json.loads(path.read_text()))
        if identity(theirs) != identity(cfg):
            raise ConfigError(f"{out} holds a run with a different config; use another --out")
    else:
        atomic_write_text(path, cfg.to_json())
