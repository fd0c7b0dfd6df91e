"""Published reference numbers the project carries in `analyses/reference/`, as tidy tables:

- the official Atari 100K scores of DreamerV3 and DreamerV3 + HarmonyDream (5 seeds x 20
  checkpoints per game, the paper's released score files), human-normalised with the
  standard random / human scores;
- published DreamerV2 learning curves, per seed, for judging whether our DreamerV2 (fixed
  weights 1/1/1) learns as the original does: DMC vision (danijar/dreamerv2, 20 tasks),
  Meta-world with the paper's protocol (APV repository, 6 tasks) and Meta-world with another
  protocol (MWM repository, 50 tasks). Each file names its source commit and protocol.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

FILES = {"DreamerV3": "atari100k_dreamerv3.json",
         "DreamerV3 + HarmonyDream": "atari100k_dreamerv3_harmony.json"}

# (random, human) per game: the standard Atari 100K normalisation constants.
RANDOM_HUMAN = {
    "alien": (227.8, 7127.7), "amidar": (5.8, 1719.5), "assault": (222.4, 742.0),
    "asterix": (210.0, 8503.3), "bank_heist": (14.2, 753.1), "battle_zone": (2360.0, 37187.5),
    "boxing": (0.1, 12.1), "breakout": (1.7, 30.5), "chopper_command": (811.0, 7387.8),
    "crazy_climber": (10780.5, 35829.4), "demon_attack": (152.1, 1971.0),
    "freeway": (0.0, 29.6), "frostbite": (65.2, 4334.7), "gopher": (257.6, 2412.5),
    "hero": (1027.0, 30826.4), "james_bond": (29.0, 302.8), "kangaroo": (52.0, 3035.0),
    "krull": (1598.0, 2665.5), "kung_fu_master": (258.5, 22736.3),
    "ms_pacman": (307.3, 6951.6), "pong": (-20.7, 14.6), "private_eye": (24.9, 69571.3),
    "qbert": (163.9, 13455.0), "road_runner": (11.5, 7845.0), "seaquest": (68.4, 42054.7),
    "up_n_down": (533.4, 11693.2),
}

DIRECTORY = Path(__file__).parent / "reference"


def human_normalised(score, game: str):
    """(score - random) / (human - random) for an Atari game."""
    rand, human = RANDOM_HUMAN[game]
    return (score - rand) / (human - rand)


def atari_scores(directory: Path = DIRECTORY) -> pd.DataFrame:
    """Tidy table: method, task, seed, step, value (raw score), hns (human-normalised)."""
    rows = []
    for method, name in FILES.items():
        data = json.loads((directory / name).read_text())
        for game, seeds in data["score"].items():
            for seed, scores in enumerate(seeds):
                for step, score in zip(data["steps"], scores, strict=True):
                    rows.append({"method": method, "task": game, "seed": seed, "step": step,
                                 "value": score, "hns": human_normalised(score, game)})
    return pd.DataFrame(rows)


def final_hns_matrices(scores: pd.DataFrame) -> dict[str, np.ndarray]:
    """{method: [seeds x games]} human-normalised scores at the last checkpoint."""
    last = scores[scores["step"] == scores["step"].max()]
    return {m: g.pivot_table(index="seed", columns="task", values="hns").to_numpy()
            for m, g in last.groupby("method", sort=False)}


# --- DreamerV2 learning curves (published per-seed data) ----------------------------------
# Each file states its source commit and protocol (`source`, `protocol` keys).
CURVES = {
    "dmc": ("dmc_vision_dreamerv2.json", "train_return"),
    "metaworld": ("metaworld_dreamerv2_apv.json", "success"),
    "metaworld_mwm": ("metaworld_dreamerv2_mwm.json", "success"),
}
REFERENCE_LABEL = {
    "dmc": "DreamerV2 reference (danijar/dreamerv2, 5 seeds; training-episode return, "
           "30K-frame bins)",
    "metaworld": "DreamerV2 reference (APV repository, 8 seeds; the paper's protocol)",
    "metaworld_mwm": "DreamerV2 reference (MWM repository, 5 seeds; action repeat 2, camera "
                     "corner2: NOT the paper's protocol)",
}


def task_name(name: str) -> str:
    """'dmc_cartpole_swingup' -> 'dmc/cartpole-swingup', 'metaworld_lever_pull' ->
    'metaworld/lever-pull' (this project's task names)."""
    suite, _, rest = name.partition("_")
    return f"{suite}/{rest.replace('_', '-')}"


def dreamerv2_curves(kind: str, directory: Path = DIRECTORY) -> pd.DataFrame:
    """Published DreamerV2 per-seed curves as a tidy table: source, task, seed, step (env
    frames), metric, value. `kind`: dmc, metaworld (APV: the paper's Meta-world protocol) or
    metaworld_mwm (another protocol; say so wherever it is shown)."""
    if kind not in CURVES:
        raise ValueError(f"unknown reference {kind!r}; choose from {', '.join(CURVES)}")
    name, metric = CURVES[kind]
    data = json.loads((directory / name).read_text())
    rows = []
    for run in data["runs"]:
        steps = run.get("xs", run.get("steps"))
        values = run.get("ys", run.get("success"))
        for step, value in zip(steps, values, strict=True):
            rows.append({"source": kind, "task": task_name(run["task"]), "seed": run["seed"],
                         "step": int(step), "metric": metric, "value": float(value)})
    return pd.DataFrame(rows)


def reference_protocol(kind: str, directory: Path = DIRECTORY) -> dict[str, str]:
    """The file's own `source` (repository @ commit, path) and `protocol` description."""
    data = json.loads((directory / CURVES[kind][0]).read_text())
    return {"source": data["source"], "protocol": data["protocol"]}


def band(curves: pd.DataFrame) -> pd.DataFrame:
    """Per task and step: seed mean, min and max (the reference seed range), and seeds."""
    return curves.groupby(["task", "step"], as_index=False)["value"].agg(
        mean="mean", lo="min", hi="max", seeds="count")


def bin_returns(episodes: pd.DataFrame, width: int = 30_000) -> pd.DataFrame:
    """Our training-episode returns binned as the DMC reference's: per run, the mean return
    of the episodes that ended in each `width`-frame bin, at the bin's right edge."""
    binned = episodes.assign(step=((episodes["step"] - 1) // width + 1) * width)
    keys = [c for c in binned.columns if c not in ("value",)]
    return binned.groupby(keys, as_index=False)["value"].mean()
