"""The tables every study report starts from, computed once from the tidy run table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analyses import stats
from analyses.load import metric

SCORE_LABEL = "score (Meta-world success rate; DMC return / 1000)"


def eval_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Evaluation score per run and step on one [0, 1] scale: Meta-world success rate,
    DMC return / 1000 (both suites' natural maxima), so tasks can be aggregated."""
    success = metric(table, "success")
    success = success[success["task"].str.startswith("metaworld/")]
    ret = metric(table, "return")
    ret = ret[ret["task"].str.startswith("dmc/")].assign(value=lambda d: d["value"] / 1000)
    return pd.concat([success, ret], ignore_index=True)


def score_label(scores: pd.DataFrame) -> str:
    suites = set(scores["task"].str.split("/").str[0])
    if suites == {"metaworld"}:
        return "success rate"
    if suites == {"dmc"}:
        return "return / 1000"
    return SCORE_LABEL


@dataclass
class Summary:
    scores: pd.DataFrame  # run columns + step + value (every evaluation)
    curves: pd.DataFrame  # method, task, step, mean, lo, hi, seeds
    final: pd.DataFrame  # per run: last evaluation
    auc: pd.DataFrame  # per run: time-averaged score
    per_task: pd.DataFrame  # method, task, mean, lo, hi (final score)
    aggregate: pd.DataFrame  # method, statistic (IQM / Mean), estimate, lo, hi (final)
    methods: list[str]
    label: str

    def runs(self) -> pd.DataFrame:
        """Runs per method and task (how much evidence each number rests on)."""
        return self.final.pivot_table(index="task", columns="label", values="seed",
                                      aggfunc="count", fill_value=0)[self.methods]


def summarise(table: pd.DataFrame, methods: list[str] | None = None,
              reps: int = 2000) -> Summary:
    scores = eval_scores(table)
    methods = [m for m in (methods or list(dict.fromkeys(scores["label"])))
               if m in set(scores["label"])]
    final = stats.final_scores(scores)
    return Summary(
        scores=scores, curves=stats.curves(scores, reps=min(reps, 1000)), final=final,
        auc=stats.area_under_curve(scores), per_task=stats.per_task(final, reps=reps),
        aggregate=stats.aggregate(stats.score_matrices(final, methods=methods), reps=reps),
        methods=methods, label=score_label(scores))
