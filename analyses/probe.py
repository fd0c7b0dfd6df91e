"""Finding 2's state probe: how much of the true simulator state the latents hold.

A ridge regression (or a small MLP) maps latent features to the recorded state. Episodes, not
steps, are split 90% / 10% so the validation frames come from trajectories the probe never saw.
The score per state group is the validation relative error, 1 - R^2 = SSE / SST: 0 is a
perfect readout, 1 is no better than predicting the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Meta-world's 39-d observation: this frame (18), the previous frame (18), the goal (3).
METAWORLD_GROUPS = {
    "hand position": [0, 1, 2],
    "gripper": [3],
    "object position": [4, 5, 6],
    "object orientation": [7, 8, 9, 10],
    "second object position": [11, 12, 13],
    "goal position": [36, 37, 38],
}


def state_groups(task: str, state_dim: int) -> dict[str, list[int]]:
    if task.startswith("metaworld/"):
        return METAWORLD_GROUPS
    return {"physics state": list(range(state_dim))}


def split_episodes(num: int, val_frac: float = 0.1, seed: int = 0) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Episode indices for (train, validation); at least one episode in each."""
    if num < 2:
        raise ValueError("the probe needs at least two episodes (one to fit, one to validate)")
    order = np.random.default_rng(seed).permutation(num)
    n_val = min(max(1, round(val_frac * num)), num - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fit_probe(features: list[np.ndarray], states: list[np.ndarray],
              groups: dict[str, list[int]], model: str = "ridge", val_frac: float = 0.1,
              alpha: float = 1.0, seed: int = 0, min_std: float = 1e-6) -> pd.DataFrame:
    """Validation error per state group; features[i] is [T_i, F], states[i] is [T_i, S].

    Groups whose validation target is constant (for example an absent second object) are
    left out: their relative error is undefined.
    """
    train, val = split_episodes(len(features), val_frac, seed)
    x_tr, y_tr = np.concatenate([features[i] for i in train]), np.concatenate(
        [states[i] for i in train])
    x_va, y_va = np.concatenate([features[i] for i in val]), np.concatenate(
        [states[i] for i in val])
    if model == "ridge":
        reg = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
    elif model == "mlp":
        mlp = MLPRegressor(hidden_layer_sizes=(256,), alpha=1e-4, max_iter=300,
                           early_stopping=True, random_state=seed)
        reg = make_pipeline(StandardScaler(), mlp)
    else:
        raise ValueError(f"unknown probe model {model!r} (ridge or mlp)")
    # Targets are standardised on the train split so every dimension weighs the same.
    mu, sd = y_tr.mean(0), y_tr.std(0) + 1e-8
    reg.fit(x_tr, (y_tr - mu) / sd)
    pred = reg.predict(x_va) * sd + mu
    rows = []
    for name, dims in groups.items():
        dims = [d for d in dims if d < y_va.shape[1]]
        if not dims or y_va[:, dims].std(0).max() < min_std:
            continue
        err = ((pred[:, dims] - y_va[:, dims]) ** 2).sum()
        total = ((y_va[:, dims] - y_va[:, dims].mean(0)) ** 2).sum()
        rows.append({"group": name, "dims": len(dims), "relative_error": float(err / total),
                     "mse": float(err / y_va[:, dims].size), "train_episodes": len(train),
                     "val_episodes": len(val)})
    return pd.DataFrame(rows)
