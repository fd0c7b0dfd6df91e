"""What each task of a study is, in words, for reports: where a task stands in for the paper's
(a synthetic background for the Kinetics videos), the report says so."""

from __future__ import annotations

from collections.abc import Iterable


def task_notes(tasks: Iterable[str]) -> list[str]:
    """One sentence per task that needs one (distracted DMC: which background it used)."""
    from agents.envs.distracted import describe

    notes = []
    for task in sorted(set(tasks)):
        if task.startswith("dmc_distracted/"):
            notes.append(f"`{task}`: {describe(task)}.")
    return notes
