"""Read a finished run back: its world model (from ckpt.pt) and its recorded episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from agents import checkpoint
from agents.config import Config, config_from_dict
from agents.replay import KEYS, Episode
from agents.weighting import make_weighting
from agents.world_model import WorldModel


def load_world_model(run_dir: str | Path) -> tuple[WorldModel, Config]:
    """The run's last checkpointed world model, on the CPU, in eval mode."""
    run_dir = Path(run_dir)
    cfg = config_from_dict(json.loads((run_dir / "config.json").read_text()))
    state = checkpoint.load(run_dir / "ckpt.pt")
    if state is None:
        raise FileNotFoundError(f"{run_dir} has no checkpoint")
    modules = state["agent"]["modules"]
    weights = {k.removeprefix("wm."): v for k, v in modules.items() if k.startswith("wm.")}
    flat = cfg.model.stoch * cfg.model.classes
    action_dim = weights["rssm.img_in.0.weight"].shape[1] - flat
    wm = WorldModel(cfg.model, action_dim, cfg.env.image_size, make_weighting(cfg.weighting))
    wm.load_state_dict(weights)
    return wm.eval(), cfg


def read_episodes(run_dir: str | Path, last: int | None = None) -> list[Episode]:
    """The run's saved replay episodes in collection order (the `last` N if given)."""
    paths = sorted((Path(run_dir) / "replay").glob("ep_*.npz"))
    paths = [p for p in paths if not p.name.endswith(".tmp.npz")]
    if last is not None:
        paths = paths[-last:]
    episodes = []
    for path in paths:
        with np.load(path) as data:
            episodes.append({k: data[k] for k in KEYS})
    return episodes


def encode(wm: WorldModel, episode: Episode, seed: int = 0) -> np.ndarray:
    """Latent features [T, feat] of one episode under `wm` (posterior, seeded samples)."""
    torch.manual_seed(seed)
    feat = wm.encode_episode(torch.as_tensor(episode["image"]),
                             torch.as_tensor(episode["action"]).float())
    return feat.numpy()


def open_loop(wm: WorldModel, episode: Episode, context: int, seed: int = 0) -> dict:
    """Reconstructed / imagined frames (uint8 [T, H, W, 3]) and predicted rewards."""
    torch.manual_seed(seed)
    out = wm.open_loop(torch.as_tensor(episode["image"]),
                       torch.as_tensor(episode["action"]).float(), context)

    def frames(x: torch.Tensor) -> np.ndarray:
        return ((x.permute(0, 2, 3, 1) + 0.5).clamp(0, 1) * 255).round().byte().numpy()

    return {"recon": frames(out["recon"]), "imagined": frames(out["imagined"]),
            "reward_post": out["reward_post"].numpy(),
            "reward_open_loop": out["reward_open_loop"].numpy()}
