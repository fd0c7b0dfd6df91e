"""Crafter's own scores (Hafner 2021): each achievement's success rate, the share of episodes
in which it was unlocked at least once, and the Crafter score, their geometric mean
S = exp(mean_i ln(1 + s_i)) - 1 with s_i in percent. Pure functions of the tidy table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.load import RUN_COLUMNS

PREFIX = "achievement_"


def success_rates(table: pd.DataFrame, split: str = "episode") -> pd.DataFrame:
    """Per run and achievement: success rate in percent over the run's `split` episodes
    (training episodes, as the Crafter paper scores a run; or `eval` rows, each already a
    rate over one evaluation's episodes, averaged over evaluations)."""
    rows = table[(table["split"] == split) & table["metric"].str.startswith(PREFIX)]
    rates = rows.groupby([*RUN_COLUMNS, "metric"], as_index=False)["value"].mean()
    rates["achievement"] = rates.pop("metric").str.removeprefix(PREFIX)
    rates["rate"] = 100.0 * rates.pop("value")
    return rates


def score(rates: pd.Series | np.ndarray) -> float:
    """The Crafter score of success rates in percent: 0 when nothing is unlocked, 100 when
    everything is unlocked in every episode."""
    rates = np.asarray(rates, dtype=float)
    return float(np.exp(np.log1p(rates).mean()) - 1.0)


def scores(rates: pd.DataFrame) -> pd.DataFrame:
    """Per run: its Crafter score (RUN_COLUMNS + value), for stats.compare."""
    return (rates.groupby(RUN_COLUMNS)["rate"].apply(score)
            .rename("value").reset_index())
