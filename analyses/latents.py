"""Finding 2 from checkpoints: probe every run's latents on one shared set of episodes, and
compare what two world models see and predict along one episode (the filmstrip)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from agents.data import Episode
from agents.run import heldout_metrics
from analyses.checkpoints import (
    encode,
    episode_source,
    load_world_model,
    open_loop,
    read_episodes,
    snapshot_updates,
)
from analyses.load import RUN_COLUMNS
from analyses.probe import fit_probe, state_groups


def shared_episodes(runs: pd.DataFrame, per_run: int = 10) -> list[Episode]:
    """One episode set for every model, so differences come from the models, not their data.

    Online runs contribute their last `per_run` replay episodes, pooled; offline runs share
    their expert dataset (all of it: the probe makes its own split by episode).
    """
    episodes, seen = [], set()
    for run_dir in runs["dir"]:
        source = episode_source(run_dir)
        if source in seen:
            continue
        seen.add(source)
        offline = source.name != "replay"
        episodes += read_episodes(source, last=None if offline else per_run)
    return episodes


def probe_runs(runs: pd.DataFrame, episodes: list[Episode], model: str = "ridge",
               seed: int = 0, progress: bool = True,
               every_snapshot: bool = False) -> pd.DataFrame:
    """One row per (run, state group): validation relative error of the state probe.

    With `every_snapshot`, one row per (run, kept world model, state group) of offline runs,
    in an `updates` column: how what the latents hold changes with training.
    """
    states = [ep["state"] for ep in episodes]
    jobs = [(run, at) for _, run in runs.iterrows()
            for at in (snapshot_updates(run["dir"]) if every_snapshot else [None])]
    frames = []
    for run, at in tqdm(jobs, desc="probe", disable=not progress):
        wm, cfg = load_world_model(run["dir"], at)
        feats = encode(wm, episodes, seed)
        table = fit_probe(feats, states, state_groups(cfg.env.task, states[0].shape[1]),
                          model=model, seed=seed)
        for col in RUN_COLUMNS:
            table[col] = run[col]
        if every_snapshot:
            table["updates"] = at
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def pick_episode(episodes: list[Episode]) -> Episode:
    """The episode whose rewards vary most: the one where reward prediction is testable."""
    return max(episodes, key=lambda ep: float(np.std(ep["reward"])))


def filmstrip_data(runs: pd.DataFrame, episode: Episode, context: int = 5,
                   seed: int = 0) -> dict[str, dict]:
    """Per run label: reconstructions, open-loop imagined frames and predicted rewards."""
    out = {}
    for _, run in runs.iterrows():
        wm, _ = load_world_model(run["dir"])
        out[run["label"]] = open_loop(wm, episode, context, seed)
    return out


def reward_errors(runs: pd.DataFrame, episodes: list[Episode], context: int = 5,
                  seed: int = 0) -> pd.DataFrame:
    """Per run and mode (posterior / open_loop): reward RMSE over the shared episodes, computed
    as the offline runs' held-out metrics are."""
    rows = []
    for _, run in runs.iterrows():
        wm, _ = load_world_model(run["dir"])
        torch.manual_seed(seed)
        m = heldout_metrics(wm, episodes, context, torch.device("cpu"), batch=16, recon=False)
        rows.append({**{c: run[c] for c in RUN_COLUMNS}, "posterior": m["reward_rmse_post"],
                     "open_loop": m["reward_rmse_open_loop"]})
    return pd.DataFrame(rows).melt(id_vars=RUN_COLUMNS, var_name="mode", value_name="value")
