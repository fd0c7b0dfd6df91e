"""A run's status.json: what it is doing now, written atomically for `study.status` to read.

Fields: state (running, interrupted, failed, done), time, host, pid, and where the run is
(step, total, fps, phase). Under SLURM the job id is recorded too, so `study.status` can ask
the scheduler whether a run that says "running" still is.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from agents.files import atomic_write_text
from agents.run.logger import parse_row

# Fault-injection hook for tests and debugging: while the file this names exists, a run pauses
# right after each checkpoint (so a test can cancel, requeue or kill it at a known point).
HOLD_ENV = "HD_HOLD_FILE"


def slurm_job_id() -> str | None:
    """The job id SLURM knows this process by (array jobs: <array>_<task>)."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def write_status(out: Path, state: str, **extra) -> None:
    status = {"state": state, "time": time.time(), "host": socket.gethostname(),
              "pid": os.getpid(), **extra}
    job = slurm_job_id()
    if job:
        status["slurm_job_id"] = job
    path = Path(out) / "status.json"
    try:
        atomic_write_text(path, json.dumps(status))
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        # Disk full: the temporary file cannot be made, but rewriting the small file in
        # place frees its own blocks first, so the failure is still recorded.
        path.write_text(json.dumps(status))


def describe(exc: BaseException) -> str:
    """One line for an exception; a full disk names the path it could not write."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"no space left on device writing {exc.filename or 'a file'}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


@contextmanager
def status_on_error(out: Path, step: Callable[[], int]):
    """If the block raises, record it in status.json: interrupted for Ctrl-C, SIGTERM and
    submitit's exit after a timeout or preemption signal (the run resumes), else failed."""
    try:
        yield
    except BaseException as exc:
        state = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
        write_status(out, state, step=step(), error=describe(exc))
        raise


class Heartbeat:
    """Writes a running status at most every `every` seconds: step, total, fps and phase."""

    def __init__(self, out: Path, total: int, every: float = 2.0):
        self.out, self.total, self.every = Path(out), total, every
        self._last = 0.0
        self._t0, self._s0 = time.time(), None

    def __call__(self, step: int, force: bool = False, **extra) -> None:
        now = time.time()
        if self._s0 is None:
            self._t0, self._s0 = now, step
        if not force and now - self._last < self.every:
            return
        self._last = now
        fps = (step - self._s0) / max(now - self._t0, 1e-9)
        write_status(self.out, "running", step=step, total=self.total, fps=round(fps, 2),
                     **extra)


def hold_if_requested() -> None:
    """Pause while $HD_HOLD_FILE exists (see HOLD_ENV)."""
    path = os.environ.get(HOLD_ENV)
    while path and os.path.exists(path):
        time.sleep(0.1)


def read_status(out: Path) -> dict | None:
    """status.json as written, or None where it is missing or unreadable."""
    try:
        status = json.loads((Path(out) / "status.json").read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def last_eval(out: Path) -> dict:
    """The last evaluation row of a run's metrics.jsonl, less step and split ({} if none)."""
    row: dict = {}
    try:
        with open(Path(out) / "metrics.jsonl") as f:
            for line in f:
                candidate = parse_row(line)  # damaged lines and non-rows skipped
                if candidate is not None and candidate.get("split") == "eval":
                    row = candidate
    except OSError:
        return {}
    return {k: v for k, v in row.items() if k not in ("step", "split")}


def has_checkpoint(out: Path) -> bool:
    """Whether a checkpoint file (ckpt.pt or ckpt.pt.prev) exists, readable or not."""
    path = Path(out) / "ckpt.pt"
    return path.exists() or Path(f"{path}.prev").exists()


def recorded(out: Path, key: str) -> dict | None:
    """The dict `key` ("progress", "config") of a run's newest readable checkpoint (ckpt.pt,
    else ckpt.pt.prev), read quietly; None where there is none."""
    if not has_checkpoint(out):
        return None
    from agents.run import checkpoint

    path = Path(out) / "ckpt.pt"
    for candidate in (path, checkpoint.previous(path)):
        try:
            state = checkpoint.load(candidate)
        except Exception:  # unreadable: try the older one
            continue
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            return state[key]
    return None


def recorded_progress(out: Path) -> dict | None:
    """The progress in a run's newest readable checkpoint; None where there is none."""
    return recorded(out, "progress")


def last_step(out: Path) -> int | None:
    """The highest step of a run's metrics.jsonl rows (damaged lines skipped); None if none."""
    try:
        with open(Path(out) / "metrics.jsonl", "rb") as f:
            steps = [row["step"] for row in map(parse_row, f) if row is not None]
    except OSError:
        return None
    return max(steps, default=None)


def finished_step(out: Path, total: int) -> int | None:
    """The step at which a run's own record says it finished: status.json says done, or its
    rows reach its last step (`total`) and no readable checkpoint says otherwise (one taken
    before the end resumes, recomputing the same rows); None where it has not finished. A
    finished run is never trained again, whatever happened to its checkpoints."""
    status = read_status(out) or {}
    if status.get("state") == "done":
        step = status.get("step")
        return step if isinstance(step, int) and not isinstance(step, bool) else total
    step = last_step(out)
    if step is None or step < total:
        return None
    progress = recorded_progress(out)
    return step if progress is None or progress.get("done") else None


@contextmanager
def end_recorded(out: Path):
    """A run this process left at "running" (it wrote that status) when the block raises ends
    interrupted (Ctrl-C, SIGTERM) or failed, with a one-line reason: setup included (data,
    environments, the replay), not only the training loop (status_on_error)."""
    try:
        yield
    except BaseException as exc:
        status = read_status(out) or {}
        if status.get("state") == "running" and status.get("pid") == os.getpid():
            state = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
            step = status.get("step") if isinstance(status.get("step"), int) else 0
            try:
                write_status(out, state, step=step, error=describe(exc))
            except OSError:  # a store this user cannot write: the exception still says why
                pass
        raise


def keep_done(out: Path, step: int) -> dict:
    """A finished run started again: its "done" status is left alone, or written back where
    status.json was lost, damaged or knocked back. Returns its last evaluation."""
    metrics = last_eval(out)
    if (read_status(out) or {}).get("state") != "done":
        write_status(out, "done", step=step, **metrics)
    return metrics


def repair(out: Path) -> dict | None:
    """Where status.json is behind the run's own record, write it back from that record: a
    run whose checkpoint says it finished is done (with its last evaluation from
    metrics.jsonl); one whose status.json is lost or unreadable but that has a checkpoint is
    interrupted at the checkpoint's step and resumes from it. Returns the status written, or
    None where the record says nothing more (no readable checkpoint; already done)."""
    status = read_status(out)
    if status is not None and status.get("state") == "done":
        return None
    progress = recorded_progress(out)
    if progress is None:
        return None
    step = int(progress.get("step", progress.get("updates", 0)))
    if progress.get("done"):
        fields = {"step": step, **last_eval(out), "repaired": "from its checkpoint"}
        state = "done"
    elif status is None:
        fields = {"step": step, "error": f"status.json lost; resumes from its checkpoint at "
                                         f"step {step}"}
        state = "interrupted"
    else:
        return None
    try:
        write_status(out, state, **fields)
    except OSError:  # a results tree this user cannot write: the state is still right
        pass
    return {"state": state, **fields}
