"""Figures: each function takes tidy tables from `analyses.stats` / `analyses.latents` and
returns a matplotlib Figure. `save` writes PNG and PDF side by side."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter

_THOUSANDS = FuncFormatter(lambda x, _: f"{x / 1000:g}K" if abs(x) >= 1000 else f"{x:g}")

sns.set_theme(style="whitegrid", context="notebook")


def save(fig: plt.Figure, out_dir: str | Path, name: str) -> None:
    """Write out_dir/name.png and .pdf (the notebook still shows the figure inline)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(out_dir / f"{name}.{ext}", bbox_inches="tight", dpi=120)


def _palette(methods: list[str]) -> dict[str, tuple]:
    return dict(zip(methods, sns.color_palette("colorblind", len(methods)), strict=True))


def _short(task: str) -> str:
    return task.split("/")[-1]


BASELINE_LABEL = "constant predictor (training mean reward)"


def _baseline(ax: plt.Axes, level: float | None, label: str = BASELINE_LABEL) -> None:
    if level is not None:
        ax.axhline(level, color="0.3", ls="--", lw=1, label=label)


def learning_curves(curves: pd.DataFrame, ylabel: str, methods: list[str] | None = None,
                    ncols: int = 4, xlabel: str = "env steps",
                    baseline: dict[str, float] | None = None,
                    reference: pd.DataFrame | None = None,
                    baseline_label: str = BASELINE_LABEL) -> plt.Figure:
    """One panel per task (and "all tasks"): mean over seeds with its 95% band; `baseline`
    ({task: level}) draws a trivial predictor's level as a dashed line; `reference` (task,
    step, mean, lo, hi, label) published curves, one per label: seed mean and seed range, in
    greys."""
    methods = methods or list(dict.fromkeys(curves["method"]))
    tasks = sorted(set(curves["task"]), key=lambda t: (t == "all tasks", t))
    ncols = min(ncols, len(tasks))
    nrows = -(-len(tasks) // ncols)
    # Constrained layout keeps the legend (outside, below the panels) off the axes and their
    # labels, at one panel as at many.
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(4 * ncols, 6), 3.2 * nrows + 0.6),
                             squeeze=False, layout="constrained")
    colours = _palette(methods)
    for ax, task in zip(axes.flat, tasks, strict=False):
        for m in methods:
            c = curves[(curves["task"] == task) & (curves["method"] == m)]
            if c.empty:
                continue
            ax.plot(c["step"], c["mean"], color=colours[m], label=m,
                    marker="o" if len(c) < 20 else None, markersize=3)
            ax.fill_between(c["step"], c["lo"], c["hi"], color=colours[m], alpha=0.2)
        _baseline(ax, (baseline or {}).get(task), baseline_label)
        r = reference[reference["task"] == task] if reference is not None else pd.DataFrame()
        for k, (label, band) in enumerate(r.groupby("label", sort=False) if len(r) else []):
            grey, style = ("0.45", ":") if k == 0 else ("0.2", "-.")
            ax.plot(band["step"], band["mean"], color=grey, ls=style, label=label)
            ax.fill_between(band["step"], band["lo"], band["hi"], color=grey, alpha=0.12)
        ax.set_title(_short(task))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(textwrap.fill(ylabel, 32))  # a long label would outgrow the panel
        ax.xaxis.set_major_formatter(_THOUSANDS)  # 150K, not 150000 running into its neighbour
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    seen: dict[str, object] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    handles, labels = list(seen.values()), list(seen)
    width = fig.get_figwidth()
    fig.legend(handles, labels, loc="outside lower center", frameon=False,
               ncol=max(1, min(len(labels), int(width // 3))))
    return fig


def score_vs_weight(per_task: pd.DataFrame, aggregate: pd.DataFrame, ylabel: str,
                    weight: str = "w_r") -> plt.Figure:
    """Score vs a loss weight on a log axis: one line per task (mean, 95% CI over seeds) and
    the across-task IQM (stratified-bootstrap 95% CI)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    tasks = list(dict.fromkeys(per_task["task"]))
    colours = _palette([*tasks, "IQM"])
    for task in tasks:
        t = per_task[per_task["task"] == task].sort_values(weight)
        ax.errorbar(t[weight], t["mean"], yerr=[t["mean"] - t["lo"], t["hi"] - t["mean"]],
                    marker="o", capsize=3, color=colours[task], label=_short(task), alpha=0.8)
    a = aggregate[aggregate["statistic"] == "IQM"].sort_values(weight)
    ax.errorbar(a[weight], a["estimate"], yerr=[a["estimate"] - a["lo"], a["hi"] - a["estimate"]],
                marker="s", capsize=4, color="black", lw=2.5, label="IQM (all tasks)")
    ax.set_xscale("log")
    ax.margins(x=0.08)
    ax.set_xlabel(f"reward loss weight {weight}")
    ax.set_ylabel(_wrap(ylabel, 38))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def intervals(aggregate: pd.DataFrame, xlabel: str, methods: list[str] | None = None
              ) -> plt.Figure:
    """rliable-style interval estimates: one panel per statistic, one bar per method."""
    stats = list(dict.fromkeys(aggregate["statistic"]))
    methods = methods or list(dict.fromkeys(aggregate["method"]))
    colours = _palette(methods)
    fig, axes = plt.subplots(1, len(stats), figsize=(3.5 * len(stats), 0.5 * len(methods) + 1.6),
                             squeeze=False)
    for ax, stat in zip(axes.flat, stats, strict=True):
        for i, m in enumerate(methods):
            r = aggregate[(aggregate["statistic"] == stat) & (aggregate["method"] == m)]
            if r.empty:
                continue
            r = r.iloc[0]
            ax.barh(i, r["hi"] - r["lo"], left=r["lo"], height=0.6, color=colours[m], alpha=0.75)
            ax.vlines(r["estimate"], i - 0.3, i + 0.3, color="black", lw=2)
        ax.set_yticks(range(len(methods)), methods if ax is axes.flat[0] else [""] * len(methods))
        ax.set_ylim(len(methods) - 0.5, -0.5)  # first method on top, none on the frame
        ax.use_sticky_edges = False  # bars pin the limits to their ends otherwise
        ax.margins(x=0.12)  # the extreme intervals clear the frame
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))  # long tick labels stay apart
        ax.set_title(stat)
    # One x label for all panels, wrapped: per panel, long labels ran into each other.
    fig.supxlabel(_wrap(xlabel, 45 * len(stats)), fontsize="medium")
    fig.tight_layout(w_pad=2.0)  # the panels' edge tick labels stay apart
    return fig


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def text_overlaps(fig: plt.Figure) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty text boxes of `fig` that overlap once drawn (titles, axis
    labels, tick labels, legends, annotations): a figure where two labels run into each
    other is unreadable."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks, drawn = set(), []  # tick labels are drawn only for ticks inside the view
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            pad = 1e-9 * max(1.0, abs(hi - lo))
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                labels = (tick.label1, tick.label2)
                ticks.update(map(id, labels))
                if lo - pad <= tick.get_loc() <= hi + pad:
                    drawn.extend(labels)
    texts = [t for t in fig.findobj(Text) if id(t) not in ticks] + drawn
    boxes = []
    for t in texts:
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None:
            box = t.get_window_extent(renderer)
            if box.width > 0 and box.height > 0:
                boxes.append((t.get_text(), box))
    pairs = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            inter_w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            inter_h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if inter_w > 1 and inter_h > 1:  # more than a pixel of shared area
                pairs.append((a, b))
    return pairs


def per_task_bars(per_task: pd.DataFrame, ylabel: str, methods: list[str] | None = None,
                  baseline: dict[str, float] | None = None) -> plt.Figure:
    """Mean final score per task and method with 95% CIs over seeds; `baseline` ({task:
    level}) marks a trivial predictor's level on each task."""
    methods = methods or list(dict.fromkeys(per_task["method"]))
    tasks = list(dict.fromkeys(per_task["task"]))
    colours = _palette(methods)
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(tasks) * max(1, len(methods) / 3)), 3.8))
    for j, m in enumerate(methods):
        r = per_task[per_task["method"] == m].set_index("task").reindex(tasks)
        x = np.arange(len(tasks)) + (j - (len(methods) - 1) / 2) * width
        mean, lo, hi = (r[k].to_numpy() for k in ("mean", "lo", "hi"))
        ax.bar(x, mean, width, color=colours[m], label=m, yerr=[mean - lo, hi - mean], capsize=3)
    for i, task in enumerate(tasks):
        if (baseline or {}).get(task) is not None:
            ax.hlines(baseline[task], i - 0.45, i + 0.45, color="0.3", ls="--", lw=1,
                      label=BASELINE_LABEL if i == 0 else None)
    ax.set_xticks(range(len(tasks)), [_short(t) for t in tasks], rotation=15)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, ncol=min(len(methods), 4))
    fig.tight_layout()
    return fig


def probe_bars(probe: pd.DataFrame, method: str = "label") -> plt.Figure:
    """State-probe validation error per state group (mean over seeds, 95% CI)."""
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * probe["group"].nunique()), 3.8))
    sns.barplot(probe, x="group", y="relative_error", hue=method, errorbar=("ci", 95),
                capsize=0.1, palette="colorblind", ax=ax)
    ax.set_ylabel("probe error, 1 - R$^2$ (lower is better)")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def filmstrip(episode: dict, predictions: dict[str, dict], context: int,
              frames: int = 8) -> plt.Figure:
    """Rows: true frames, then per model its reconstructions and open-loop frames; below,
    the true reward against each model's posterior and open-loop reward predictions."""
    T = len(episode["reward"])
    idx = np.linspace(context, T - 1, frames).round().astype(int)
    labels = list(predictions)
    rows = [("ground truth", episode["image"][idx])]
    for lab in labels:
        p = predictions[lab]
        rows.append((f"{lab}: reconstruction", p["recon"][idx]))
        rows.append((f"{lab}: open loop", p["imagined"][idx - context]))
    fig = plt.figure(figsize=(1.3 * frames + 1.5, 1.3 * len(rows) + 3.2))
    grid = fig.add_gridspec(len(rows) + 2, frames, height_ratios=[1] * len(rows) + [0.3, 2.4])
    for r, (name, images) in enumerate(rows):
        for c in range(frames):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(images[c])
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
            if r == 0:
                ax.set_title(f"t={idx[c]}", fontsize=8)
    ax = fig.add_subplot(grid[-1, :])
    colours = _palette(labels)
    ax.plot(episode["reward"], color="black", lw=2, label="true reward")
    for lab in labels:
        p = predictions[lab]
        ax.plot(p["reward_post"], color=colours[lab], lw=1, alpha=0.8,
                label=f"{lab} (posterior)")
        ax.plot(np.arange(context, T), p["reward_open_loop"], color=colours[lab], ls="--",
                lw=1.2, label=f"{lab} (open loop)")
    ax.axvline(context, color="grey", ls=":", lw=1)
    ax.set_xlabel("step in episode")
    ax.set_ylabel("reward")
    ax.legend(fontsize=7, ncol=len(labels) + 1)
    return fig


def learned_weights(train: pd.DataFrame, method: str = "label") -> plt.Figure:
    """Loss weights (1/sigma_i for the harmonizers) and raw losses over training."""
    losses = ("obs", "rew", "dyn")
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharex=True)
    methods = list(dict.fromkeys(train[method]))
    colours = _palette(methods)
    for j, loss in enumerate(losses):
        for i, (prefix, ylabel) in enumerate((("weight_", "weight"), ("loss_", "raw loss"))):
            ax = axes[i, j]
            rows = train[train["metric"] == prefix + loss]
            for m in methods:
                g = rows[rows[method] == m].groupby("step")["value"]
                mean, lo, hi = g.mean(), g.quantile(0.1), g.quantile(0.9)
                if mean.empty:
                    continue
                ax.plot(mean.index, mean.values, color=colours[m], label=m)
                ax.fill_between(mean.index, lo.values, hi.values, color=colours[m], alpha=0.15)
            ax.set_yscale("log")
            ax.set_title(f"{ylabel}: {loss}")
            if i == 1:
                ax.set_xlabel("env steps")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def premise_ratios(runs: pd.DataFrame, threshold: float, seed_threshold: float
                   ) -> plt.Figure:
    """Each run's reward/observation gradient ratio r per candidate dataset (dots: seeds,
    bar: mean), with the premise's thresholds (log scale: below 1, observation dominates)."""
    order = list(dict.fromkeys(runs["label"]))
    fig, ax = plt.subplots(figsize=(3.5 + 1.6 * len(order), 3.6))
    sns.barplot(runs, x="label", y="r", order=order, errorbar=None, color="0.85", ax=ax)
    sns.stripplot(runs, x="label", y="r", order=order, color="0.2", size=6, ax=ax)
    ax.axhline(threshold, color="C3", ls="--", lw=1, label=f"premise: mean <= {threshold:.2f}")
    ax.axhline(seed_threshold, color="C1", ls=":", lw=1,
               label=f"every seed <= {seed_threshold:.2f}")
    ax.axhline(1.0, color="0.4", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("")
    ax.set_ylabel("reward / observation gradient\non encoder + RSSM at w_r = 1")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    fig.tight_layout()
    return fig
