"""A run's true state, read one way: the one reader of a run's state for study/ and analyses/.

`run_states` reads each run's status.json (checked: a damaged one reads as pending with the
reason), rebuilds a lost one from the run's own record (agents.run.repair), and asks whether a
run that says "running" still is: the scheduler, or the process table.

A run's status.json is written by the run itself, so a run killed hard (SIGKILL, scancel, a
time limit, the OOM killer, a lost node) leaves "running" behind. `reconcile` checks such a
status against SLURM's accounting (sacct) for SLURM jobs, and against the recorded pid for
local runs on this host, and says what really happened. A run whose checkpoint says it
finished is done, however its process ended: `reconcile` never reports it interrupted or
failed, and writes its "done" status back.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import NamedTuple

from agents.run import read_status as read_status_as_written
from agents.run import repair

STATES = ("pending", "running", "interrupted", "failed", "done")


class RunState(NamedTuple):
    state: str  # pending, running, interrupted, failed, done
    detail: str  # the step, or what ended the run and the last line of its log
    alive: bool = False  # running, and checked to be (its job or process exists)


# SLURM job states (sacct) in which the job still exists and will run or is running.
ALIVE = {"RUNNING", "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED",
         "CONFIGURING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"}
# Ended without the run finishing, and resuming from its checkpoint is the right response.
INTERRUPTED = {"CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "DEADLINE", "COMPLETED"}
# Ended by something a rerun would repeat: left to --retry-failed.
FAILED = {"OUT_OF_MEMORY", "FAILED", "BOOT_FAIL"}


def sacct_states(job_ids: list[str]) -> dict[str, str]:
    """{job id: SLURM state} for the jobs sacct knows ("CANCELLED by 0" -> "CANCELLED")."""
    if not job_ids or shutil.which("sacct") is None:
        return {}
    try:
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j",
                              ",".join(sorted(set(job_ids)))],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    states = {}
    for line in out.splitlines():
        job, _, state = line.partition("|")
        if job:
            states[job.strip()] = state.split()[0] if state.strip() else "UNKNOWN"
    return states


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A recycled pid would belong to some other program: ours run Python.
    try:
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def last_log_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:200] if lines else ""


def slurm_log(directory: Path, job_id: str) -> Path:
    """submitit's stderr log of a job: <results>/slurm/<job id>/<job id>_0_log.err."""
    return Path(directory).parent / "slurm" / job_id / f"{job_id}_0_log.err"


def reconcile(directory: Path, status: dict, slurm: dict[str, str]) -> RunState:
    """The true state of a run whose status.json says `status["state"]` in (running,
    interrupted); `slurm` holds sacct's states for the job ids recorded in such statuses."""
    found = _reconcile(directory, status, slurm)
    if found.state in ("interrupted", "failed"):
        repair(directory)  # its checkpoint says done: the process died after that
        now = read_status_as_written(directory) or {}
        if now.get("state") == "done":
            return RunState("done", f"step {now.get('step', 0)} (finished; status.json written "
                                    "back from its checkpoint)")
    return found


def _reconcile(directory: Path, status: dict, slurm: dict[str, str]) -> RunState:
    state = status.get("state")
    job = status.get("slurm_job_id")
    step = f"step {status.get('step', 0)}"
    if job:
        sstate = slurm.get(job)
        log = last_log_line(slurm_log(directory, job))
        tail = f"; log: {log}" if log else ""
        if sstate is None:
            if state == "running" and shutil.which("sacct") is None:
                return RunState(state, f"{step} (SLURM job {job}; no sacct here to check it)")
            return RunState("interrupted",
                            f"SLURM job {job} vanished (unknown to sacct) at {step}{tail}")
        if sstate in ALIVE:
            return RunState("running", f"{step} (SLURM job {job} {sstate})", alive=True)
        if sstate in FAILED:
            return RunState("failed", f"SLURM job {job} {sstate} at {step}{tail}")
        return RunState("interrupted", f"SLURM job {job} {sstate} at {step}{tail}")
    if state != "running":
        return RunState(state, (status.get("error") or step).strip().splitlines()[-1])
    pid, host = status.get("pid"), status.get("host")
    log = last_log_line(Path(directory) / "log.txt")
    tail = f"; log: {log}" if log else ""
    if pid is None or host != socket.gethostname():
        return RunState("running", f"{step} (pid {pid} on {host}; not checked from here)")
    if pid_alive(int(pid)):
        return RunState("running", step, alive=True)
    return RunState("interrupted", f"process {pid} on {host} vanished at {step}{tail}")


def read_status(directory: Path) -> dict | None:
    """status.json, checked for the fields its readers use: a damaged one (not JSON, not an
    object, a field of the wrong type) reads as pending with the reason, never a traceback."""
    path = Path(directory) / "status.json"
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"state": "pending", "error": "unreadable status.json"}
    types = {"state": str, "error": str, "slurm_job_id": str, "host": str, "pid": int,
             "step": int}
    if not isinstance(status, dict) or status.get("state") not in STATES or any(
            k in status and not isinstance(status[k], t) for k, t in types.items()):
        return {"state": "pending", "error": "damaged status.json"}
    return status


def run_states(directories: list[Path]) -> list[RunState]:
    """The true state of each run: what its status.json says, checked against the scheduler
    (sacct) or the process table where it claims to be running (see reconcile)."""
    # A lost or unreadable status.json is rebuilt from the run's record first (a finished
    # run is done, not pending).
    for directory in directories:
        if read_status_as_written(directory) is None:
            repair(directory)
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
