"""Read a finished run back: its world model (from ckpt.pt or an offline snapshot; either
agent family) and its recorded episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from agents.config import Config, config_from_dict
from agents.data import Episode, batches_by_length, load_episode, with_terminal
from agents.families import make_agent
from agents.run import load_checkpoint, snapshot_path


def snapshot_updates(run_dir: str | Path) -> list[int]:
    """The update counts at which an offline run kept its world model (one per evaluation)."""
    paths = (Path(run_dir) / "snapshots").glob("wm_*.pt")
    return sorted(int(p.stem.removeprefix("wm_")) for p in paths)


def load_world_model(run_dir: str | Path,
                     updates: int | None = None) -> tuple[torch.nn.Module, Config]:
    """The run's world model, on the CPU, in eval mode: the last checkpointed one, or with
    `updates` the offline snapshot kept at that evaluation (see `snapshot_updates`)."""
    run_dir = Path(run_dir)
    cfg = config_from_dict(json.loads((run_dir / "config.json").read_text()))
    path = run_dir / "ckpt.pt" if updates is None else snapshot_path(run_dir, updates)
    state = load_checkpoint(path)
    if state is None:
        raise FileNotFoundError(f"{run_dir} has no {path.name}")
    modules = state["modules"] if updates is not None else state["agent"]["modules"]
    weights = {k.removeprefix("wm."): v for k, v in modules.items() if k.startswith("wm.")}
    flat = cfg.model.stoch * cfg.model.classes  # both families' RSSMs take [stoch, action]
    action_dim = weights["rssm.img_in.0.weight"].shape[1] - flat
    wm = make_agent(cfg, action_dim, torch.device("cpu")).wm  # either family
    wm.load_state_dict(weights)
    return wm.eval(), cfg


def episode_source(run_dir: str | Path) -> Path:
    """Where a run's episodes are: its replay, or for an offline run its expert dataset."""
    heldout = Path(run_dir) / "heldout.json"
    if heldout.exists():
        return Path(json.loads(heldout.read_text())["dataset"])
    return Path(run_dir) / "replay"


def read_episodes(directory: str | Path, last: int | None = None) -> list[Episode]:
    """The ep_*.npz episodes of a directory in collection order (the `last` N if given)."""
    paths = sorted(Path(directory).glob("ep_*.npz"))
    paths = [p for p in paths if not p.name.endswith(".tmp.npz")]
    if last is not None:
        paths = paths[-last:]
    # load_episode names a damaged file in its error
    return [with_terminal(load_episode(path)) for path in paths]


def _inputs(episodes: list[Episode], idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.as_tensor(np.stack([episodes[i]["image"] for i in idx]))
    action = torch.as_tensor(np.stack([episodes[i]["action"] for i in idx])).float()
    return image, action


def encode(wm: torch.nn.Module, episodes: list[Episode], seed: int = 0,
           batch: int = 16) -> list[np.ndarray]:
    """Latent features [T_i, feat] of each episode under `wm` (posterior, seeded samples)."""
    torch.manual_seed(seed)
    out: list[np.ndarray] = [np.empty(0)] * len(episodes)
    for idx in batches_by_length(episodes, batch):
        feats = wm.encode_sequences(*_inputs(episodes, idx)).numpy()
        for j, i in enumerate(idx):
            out[i] = feats[j]
    return out


def _frames(x: torch.Tensor) -> np.ndarray:
    return ((x.permute(0, 2, 3, 1) + 0.5).clamp(0, 1) * 255).round().byte().numpy()


def open_loop(wm: torch.nn.Module, episode: Episode, context: int, seed: int = 0) -> dict:
    """Reconstructed / imagined frames (uint8 [T, H, W, 3]) and predicted rewards."""
    torch.manual_seed(seed)
    out = wm.open_loop(*_inputs([episode], [0]), context)
    return {"recon": _frames(out["recon"][0]), "imagined": _frames(out["imagined"][0]),
            "reward_post": out["reward_post"][0].numpy(),
            "reward_open_loop": out["reward_open_loop"][0].numpy()}
