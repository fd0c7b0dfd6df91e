"""Statistics over tidy run tables: final scores, curves, rliable aggregates, verdicts.

Pure functions: tables in, tables out. Score matrices follow rliable's layout, one
[runs x tasks] array per method, and every interval is a stratified-bootstrap 95% CI.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics as rm

AGGREGATES = {"IQM": rm.aggregate_iqm, "Mean": rm.aggregate_mean}
# Atari 100K reports the median too (rliable's four, without the optimality gap).
WITH_MEDIAN = {**AGGREGATES, "Median": rm.aggregate_median}


@contextlib.contextmanager
def _quiet_arch():
    # rliable passes a RandomState to arch, which warns about it on every call.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
        yield


def _intervals(score_dict, func, reps: int, seed: int):
    with _quiet_arch():
        return rly.get_interval_estimates(score_dict, func, reps=reps,
                                          random_state=np.random.RandomState(seed))


def final_scores(curves: pd.DataFrame, last: int = 1) -> pd.DataFrame:
    """Per run: mean of its last `last` evaluations (`value`) and its step."""
    keys = [c for c in curves.columns if c not in ("step", "value")]
    ordered = curves.sort_values("step")
    tail = ordered.groupby(keys, dropna=False).tail(last)
    return tail.groupby(keys, dropna=False, as_index=False).agg(step=("step", "max"),
                                                               value=("value", "mean"))


def area_under_curve(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run: the time-average of the curve (trapezoids over env steps), in score units."""
    keys = [c for c in curves.columns if c not in ("step", "value")]

    def auc(group: pd.DataFrame) -> float:
        g = group.sort_values("step")
        x, y = g["step"].to_numpy(float), g["value"].to_numpy(float)
        if len(x) < 2 or x[-1] == x[0]:
            return float(y.mean())
        return float(np.trapezoid(y, x) / (x[-1] - x[0]))

    rows = [dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True), value=auc(g))
            for k, g in curves.groupby(keys, dropna=False)]
    return pd.DataFrame(rows)


def score_matrices(per_run: pd.DataFrame, method: str = "label",
                   methods: list[str] | None = None) -> dict[str, np.ndarray]:
    """{method: [seeds x tasks]} from per-run scores, over the tasks every method has.

    Restricting to shared tasks keeps aggregates comparable across methods; seeds missing a
    shared task are dropped.
    """
    names = [m for m in (methods or list(dict.fromkeys(per_run[method])))
             if m in set(per_run[method])]
    grids = {m: per_run[per_run[method] == m].pivot_table(
        index="seed", columns="task", values="value", aggfunc="mean") for m in names}
    tasks = sorted(set.intersection(*(set(g.columns) for g in grids.values()))) if grids else []
    out = {}
    for name, grid in grids.items():
        grid = grid[tasks].dropna()
        if len(grid) and tasks:
            out[name] = grid.to_numpy(float)
    return out


def aggregate(matrices: dict[str, np.ndarray], reps: int = 2000, seed: int = 0,
              statistics: dict = AGGREGATES) -> pd.DataFrame:
    """IQM and mean (or `statistics`) across runs and tasks with stratified-bootstrap 95%
    CIs (rliable)."""
    def func(scores: np.ndarray) -> np.ndarray:
        return np.array([f(scores) for f in statistics.values()])

    point, ci = _intervals(matrices, func, reps, seed)
    rows = []
    for name in matrices:
        for i, stat in enumerate(statistics):
            rows.append({"method": name, "statistic": stat, "estimate": point[name][i],
                         "lo": ci[name][0, i], "hi": ci[name][1, i],
                         "runs": matrices[name].shape[0], "tasks": matrices[name].shape[1]})
    return pd.DataFrame(rows)


def per_task(per_run: pd.DataFrame, method: str = "label", reps: int = 2000,
             seed: int = 0) -> pd.DataFrame:
    """Mean score per (method, task) with a bootstrap 95% CI over seeds."""
    rows = []
    for (name, task), g in per_run.groupby([method, "task"], sort=False):
        lo, hi = bootstrap_mean_ci(g["value"].to_numpy(float), reps, seed)
        rows.append({"method": name, "task": task, "mean": g["value"].mean(), "lo": lo,
                     "hi": hi, "seeds": len(g)})
    return pd.DataFrame(rows)


def paired(matrices: dict[str, np.ndarray], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Two methods' matrices cut to the same number of runs (rliable compares equal shapes)."""
    n = min(len(matrices[x]), len(matrices[y]))
    return matrices[x][:n], matrices[y][:n]


def probability_of_improvement(matrices: dict[str, np.ndarray], x: str, y: str,
                               reps: int = 2000, seed: int = 0) -> dict[str, float]:
    """P(X > Y) averaged over tasks (rliable), with its stratified-bootstrap 95% CI."""
    pair = paired(matrices, x, y)
    point, ci = _intervals(
        {"pair": pair}, lambda a, b: np.array([rm.probability_of_improvement(a, b)]), reps, seed)
    return {"estimate": float(point["pair"][0]), "lo": float(ci["pair"][0, 0]),
            "hi": float(ci["pair"][1, 0]), "seeds": len(pair[0])}


def difference(matrices: dict[str, np.ndarray], x: str, y: str, statistic: str = "IQM",
               reps: int = 2000, seed: int = 0) -> dict[str, float]:
    """statistic(X) - statistic(Y) with a stratified-bootstrap 95% CI."""
    f = AGGREGATES[statistic]
    pair = paired(matrices, x, y)
    point, ci = _intervals({"pair": pair}, lambda a, b: np.array([f(a) - f(b)]), reps, seed)
    return {"estimate": float(point["pair"][0]), "lo": float(ci["pair"][0, 0]),
            "hi": float(ci["pair"][1, 0])}


def performance_profiles(matrices: dict[str, np.ndarray], taus: np.ndarray,
                         reps: int = 1000) -> pd.DataFrame:
    """Fraction of runs scoring above tau, per method, with 95% CIs (rliable)."""
    with _quiet_arch():
        point, ci = rly.create_performance_profile(matrices, taus, reps=reps)
    rows = [{"method": m, "tau": t, "fraction": point[m][i], "lo": ci[m][0][i],
             "hi": ci[m][1][i]} for m in matrices for i, t in enumerate(taus)]
    return pd.DataFrame(rows)


def bootstrap_mean_ci(values: np.ndarray, reps: int = 2000, seed: int = 0,
                      size: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap CI of a mean (vectorised; for curve bands and per-task bars)."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return float(values.mean()), float(values.mean())
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (reps, len(values)))].mean(1)
    alpha = (1 - size) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def curves(runs: pd.DataFrame, method: str = "label", aggregate_tasks: bool = True,
           reps: int = 1000) -> pd.DataFrame:
    """Mean curve with a 95% band over seeds, per (method, task, step).

    With `aggregate_tasks`, rows with task="all tasks" average each seed over tasks first.
    """
    parts = [runs]
    if aggregate_tasks and runs["task"].nunique() > 1:
        complete = runs.groupby([method, "seed", "step"]).filter(
            lambda g: g["task"].nunique() == runs["task"].nunique())
        agg = complete.groupby([method, "seed", "step"], as_index=False)["value"].mean()
        parts.append(agg.assign(task="all tasks"))
    rows = []
    for (name, task, step), g in pd.concat(parts).groupby([method, "task", "step"], sort=False):
        lo, hi = bootstrap_mean_ci(g["value"].to_numpy(float), reps)
        rows.append({"method": name, "task": task, "step": step, "mean": g["value"].mean(),
                     "lo": lo, "hi": hi, "seeds": len(g)})
    return pd.DataFrame(rows).sort_values(["method", "task", "step"]).reset_index(drop=True)


def compare(per_run: pd.DataFrame, better: str, baseline: str, what: str,
            method: str = "label", higher_is_better: bool = True, reps: int = 2000) -> dict:
    """Does `better` beat `baseline`? Task wins, IQM difference with CI, and one sentence.

    The sentence is computed from the numbers; "reproduced" requires the CI to exclude 0 on
    the expected side. With `higher_is_better=False` (errors) the difference is baseline -
    better, so a positive difference still means `better` won.
    """
    if "run_id" in per_run:  # two labels of one run: comparing it with itself says nothing
        shared = (set(per_run.loc[per_run[method] == better, "run_id"])
                  & set(per_run.loc[per_run[method] == baseline, "run_id"]))
        if shared:
            return {"reproduced": None, "text": f"Cannot compare {better} with {baseline}: "
                    f"{len(shared)} of their runs are the same run under both labels "
                    f"({', '.join(sorted(shared)[:3])}{', ...' if len(shared) > 3 else ''})."}
    if not higher_is_better:
        per_run = per_run.assign(value=-per_run["value"])
    matrices = score_matrices(per_run, method, [better, baseline])
    if len(matrices) < 2:
        missing = {better, baseline} - set(matrices)
        return {"reproduced": None, "text": f"Cannot compare {better} with {baseline}: no "
                f"finished runs of {', '.join(sorted(missing))}."}
    means = per_run[per_run[method].isin([better, baseline])].pivot_table(
        index="task", columns=method, values="value", aggfunc="mean").dropna()
    gap = means[better] - means[baseline]
    tol = 1e-9 * max(1.0, float(np.abs(means.to_numpy()).max()))
    wins, losses = int((gap > tol).sum()), int((gap < -tol).sum())
    diff = difference(matrices, better, baseline, "IQM", reps)
    runs = len(paired(matrices, better, baseline)[0])
    if runs < 2:
        verdict, reproduced = "too few seeds for a confidence interval", None
    elif diff["lo"] > 0:
        verdict, reproduced = "the direction reproduced at this scale", True
    elif diff["hi"] < 0:
        verdict, reproduced = "the opposite direction came out at this scale", False
    else:
        verdict, reproduced = ("the direction did not reproduce at this scale (the CI "
                               "includes no effect)"), False
    sign = "" if higher_is_better else " (lower is better; difference = baseline - other)"
    ties = len(means) - wins - losses
    spread = (f"{interval(diff['lo'], diff['hi'], runs)}" if runs >= 2
              else "(1 seed per task: no interval)")
    text = (f"{better} beat {baseline} on {wins} of {len(means)} task(s) ({losses} lost, "
            f"{ties} tied) in {what}{sign}; IQM difference {_num(diff['estimate'])} "
            f"{spread}: {verdict}.")
    return {"reproduced": reproduced, "wins": wins, "losses": losses, "tasks": len(means),
            "runs": runs,
            **{f"diff_{k}": v for k, v in diff.items()}, "text": text}


def interval(lo: float, hi: float, seeds: int) -> str:
    """'[lo, hi] (95% CI, n seeds per task)': every interval says how many seeds it rests on."""
    return f"[{_num(lo)}, {_num(hi)}] (95% CI, {seeds} seed{'s' if seeds != 1 else ''} per task)"


def _num(x: float) -> str:
    return "+0" if abs(x) < 5e-7 else f"{x:+.3g}"


def with_weight(per_task_table: pd.DataFrame, per_run: pd.DataFrame,
                weight: str = "w_r") -> pd.DataFrame:
    """Attach each method's loss weight (for plotting score against w_r)."""
    weights = per_run.groupby("label")[weight].first()
    return per_task_table.assign(**{weight: per_task_table["method"].map(weights)})
