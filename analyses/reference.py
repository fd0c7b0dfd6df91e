"""Published reference numbers the project carries: the official Atari 100K scores of
DreamerV3 and DreamerV3 + HarmonyDream (5 seeds x 20 checkpoints per game, from the paper's
released score files), human-normalised with the standard random / human scores.

This toolkit does not run Atari; the reference shows the published effect of the method that
our Meta-world / DMC numbers sit beside.
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


def atari_scores(directory: Path = DIRECTORY) -> pd.DataFrame:
    """Tidy table: method, task, seed, step, value (raw score), hns (human-normalised)."""
    rows = []
    for method, name in FILES.items():
        data = json.loads((directory / name).read_text())
        for game, seeds in data["score"].items():
            rand, human = RANDOM_HUMAN[game]
            for seed, scores in enumerate(seeds):
                for step, score in zip(data["steps"], scores, strict=True):
                    rows.append({"method": method, "task": game, "seed": seed, "step": step,
                                 "value": score, "hns": (score - rand) / (human - rand)})
    return pd.DataFrame(rows)


def final_hns_matrices(scores: pd.DataFrame) -> dict[str, np.ndarray]:
    """{method: [seeds x games]} human-normalised scores at the last checkpoint."""
    last = scores[scores["step"] == scores["step"].max()]
    return {m: g.pivot_table(index="seed", columns="task", values="hns").to_numpy()
            for m, g in last.groupby("method", sort=False)}
