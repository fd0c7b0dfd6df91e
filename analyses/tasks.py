"""What each task of a study is, in words, for reports: where a task stands in for the paper's
(a synthetic background for the Kinetics videos, colours for DMC Remastered's images,
Crafter for Minecraft), the report says so."""

from __future__ import annotations

from collections.abc import Iterable


def task_notes(tasks: Iterable[str]) -> list[str]:
    """One sentence per task that needs one (distracted DMC: which background it used; DMC
    Remastered: which visuals; Crafter: what it stands in for)."""
    from agents.envs import describe_task

    notes = []
    for task in sorted(set(tasks)):
        if (visuals := describe_task(task)) is not None:
            notes.append(f"`{task}`: {visuals}.")
        elif task.startswith("crafter/"):
            notes.append(f"`{task}`: Crafter, the open-world stand-in for the paper's "
                         "Minecraft (which cannot be installed from the package registries); "
                         "not the paper's experiment.")
    return notes
