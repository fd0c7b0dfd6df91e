"""The loss-balancing arena's report parts (notebooks/arena.ipynb, docs/arena.md): each method's
gradient shares on the shared parameters over training, its rank against DreamerV2 and
HarmonyDream, and its measured cost per world-model update (agents.bench's arena row).

Gradient shares: gradnorm_k is the norm of loss k's weighted gradient on the encoder and RSSM
(an aggregator logs it every update; a weighted sum at each `train.probe_every` probe), so
share_k = gradnorm_k / sum_j gradnorm_j says who drives the shared representation.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from agents.config import WEIGHTINGS_REGISTRY

LOSSES = ("obs", "rew", "dyn")
BENCH_COMMAND = "python -m agents.bench --rows arena --json results/bench/arena.json"


def papers(methods: list[str], table: pd.DataFrame) -> pd.DataFrame:
    """Each method's weighting, what it does and its paper (from the registry)."""
    names = table.drop_duplicates("label").set_index("label")["weighting"]
    rows = []
    for m in methods:
        info = WEIGHTINGS_REGISTRY[names[m]]
        rows.append({"method": m, "weighting": info.name, "what": info.doc,
                     "paper": info.paper or "Hafner et al., DreamerV2, ICLR 2021",
                     "kind": "aggregator" if info.aggregates else
                     "learned weights" if info.learns else "fixed weights"})
    return pd.DataFrame(rows)


def gradient_shares(train: pd.DataFrame) -> pd.DataFrame:
    """Per run, step and loss: share = gradnorm_k / sum_j gradnorm_j (rows with all three)."""
    rows = train[train["metric"].isin([f"gradnorm_{k}" for k in LOSSES])]
    if rows.empty:
        return pd.DataFrame(columns=["label", "run_id", "step", "loss", "share"])
    wide = rows.pivot_table(index=["label", "run_id", "step"], columns="metric",
                            values="value").dropna()
    total = wide.sum(axis=1)
    shares = wide.div(total.where(total > 0), axis=0).reset_index().melt(
        id_vars=["label", "run_id", "step"], var_name="loss", value_name="share")
    shares["loss"] = shares["loss"].str.removeprefix("gradnorm_")
    return shares.dropna()


def shares_figure(shares: pd.DataFrame) -> plt.Figure:
    """One panel per loss: each method's mean share of the shared-parameter gradient."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
    for ax, loss in zip(axes, LOSSES, strict=True):
        part = shares[shares["loss"] == loss]
        for label, g in part.groupby("label", sort=False):
            mean = g.groupby("step")["share"].mean()
            ax.plot(mean.index, mean.values, marker=".", label=label)
        ax.set_title(f"share of the shared gradient: {loss}")
        ax.set_xlabel("world-model updates")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("gradnorm_k / sum_j gradnorm_j")
    axes[-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def ranking(summary, baselines: tuple[str, ...] = ("dreamerv2", "harmony")) -> pd.DataFrame:
    """Per method: the IQM of its final score (95% CI) and P(method better than each
    baseline) with its CI (rliable, via analyses/stats.py), best IQM first."""
    agg = summary.aggregate
    iqm = agg[agg["statistic"] == "IQM"].set_index("method")
    rows = []
    for m in summary.methods:
        row = {"method": m, "IQM": iqm.loc[m, "estimate"], "IQM lo": iqm.loc[m, "lo"],
               "IQM hi": iqm.loc[m, "hi"]}
        for b in baselines:
            p = summary.improvement(m, b) if m != b and b in summary.methods else None
            row[f"P(better than {b})"] = (f"{p['estimate']:.2f} [{p['lo']:.2f}, {p['hi']:.2f}]"
                                          if p else "-")
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values("IQM", ascending=not summary.higher_is_better, ignore_index=True)


def cost(path: str | Path) -> pd.DataFrame | None:
    """agents.bench's arena rows (seconds per world-model update, and the ratio to the plain
    weighted sum measured in the same run); None where the file is missing."""
    path = Path(path)
    if not path.is_file():
        return None
    bench = json.loads(path.read_text())
    keys = ("world_model_s", "world_model_min_s", "vs_plain", "gflop", "flop_vs_plain", "shape")
    rows = [{"method": r["row"].removeprefix("arena-"), **{k: r[k] for k in keys if k in r}}
            for r in bench["rows"] if r["row"].startswith("arena-")]
    return pd.DataFrame(rows).assign(machine=bench.get("machine"), date=bench.get("date"),
                                     threads=bench.get("threads"))
