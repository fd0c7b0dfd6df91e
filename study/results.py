"""Results store: results/<run-id>/ per run, results/studies/<study>.json per study.

A run directory is the training run's own directory (config.json, metrics.jsonl, status.json,
ckpt.pt, replay/) plus provenance.json. Every file is written atomically (write, then rename),
so concurrent jobs writing into one tree never leave a half-written file behind.
"""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path

from agents.logger import atomic_write_text
from study.grid import Run, get_study
from study.liveness import RunState, reconcile, sacct_states

PACKAGES = ("torch", "numpy", "mujoco", "dm_control", "metaworld", "gymnasium", "submitit")
STATES = ("pending", "running", "interrupted", "failed", "done")


def run_dir(results: Path, run: Run) -> Path:
    return Path(results) / run.id


def read_status(directory: Path) -> dict | None:
    path = Path(directory) / "status.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return {"state": "pending", "error": "unreadable status.json"}


def run_states(directories: list[Path]) -> list[RunState]:
    """The true state of each run: what its status.json says, checked against the scheduler
    (sacct) or the process table where it claims to be running (study.liveness)."""
    statuses = [read_status(d) for d in directories]
    jobs = [s["slurm_job_id"] for s in statuses
            if s and s.get("slurm_job_id") and s.get("state") in ("running", "interrupted")]
    slurm = sacct_states(jobs)
    out = []
    for directory, status in zip(directories, statuses, strict=True):
        if status is None:
            out.append(RunState("pending", ""))
        elif status.get("state") in ("running", "interrupted"):
            out.append(reconcile(directory, status, slurm))
        else:
            error = (status.get("error") or "").strip().splitlines()
            out.append(RunState(status.get("state", "pending"),
                                error[-1] if error else f"step {status.get('step', 0)}"))
    return out


def run_state(directory: Path) -> tuple[str, str]:
    """(state, detail) of one run (see run_states)."""
    state, detail, _ = run_states([Path(directory)])[0]
    return state, detail


def write_study_index(results: Path, study: str, runs: list[Run], preset: str) -> Path:
    index = Path(results) / "studies" / f"{study}.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"run_id": r.id, "task": r.task, "label": r.label,
             "weighting": r.config.weighting.name, "w_o": r.config.weighting.w_o,
             "w_r": r.config.weighting.w_r, "w_d": r.config.weighting.w_d, "seed": r.seed}
            for r in runs]
    head = {"study": study, "preset": preset}
    scale = get_study(study).scales.get(preset)
    if scale:
        head["scale"] = scale  # analyses/load.py scale_note says it instead of the preset's
    atomic_write_text(index, json.dumps({**head, "runs": rows}, indent=1))
    return index


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_provenance(directory: Path, run: Run, **extra) -> None:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    path = Path(directory) / "provenance.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    # The code a run executes is the checkout at each (re)start, not at its end: commits are
    # recorded when a process starts the run, the first as `git_commit`.
    commits = previous.get("git_commits", [])
    if "end_time" not in extra and (now := _git_commit()) not in commits:
        commits = [*commits, now]
    record = {"run_id": run.id, "study": run.study, "label": run.label,
              "git_commit": commits[0] if commits else "unknown", "git_commits": commits,
              "host": socket.gethostname(),
              "python": platform.python_version(), "packages": versions,
              "start_time": previous.get("start_time", time.time()), **extra}
    atomic_write_text(path, json.dumps(record, indent=1))
