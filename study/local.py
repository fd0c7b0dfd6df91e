"""The local executor: up to K runs at once, one fresh process each, with live progress.

Each run gets cores / K threads and, where there are enough cores, its own K-th of them
(CPU affinity, inherited by its env workers): two runs that each take every core slow each
other down several-fold. With `train.device=cuda` the K runs share the GPU. A run's output
goes to `<results>/<run-id>/log.txt`. Ctrl-C or SIGTERM stops
every run (each records "interrupted" and keeps its last checkpoint) and leaves no process
behind; the same command resumes them. A run whose process dies without a word (SIGKILL,
the OOM killer) is recorded as interrupted too, and the other runs go on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

from agents.run import die_with_parent, holder
from study.grid import Run
from study.results import run_dir
from study.run_one import THREAD_VARS, RunBusyError, RunFinishedError, execute_run
from study.state import read_status

EXIT_INTERRUPTED = 130
EXIT_BUSY = 75  # another process holds the run (EX_TEMPFAIL)
EXIT_FINISHED = 76  # another process finished the run after this command planned it
STOP_GRACE_S = 30.0  # time a run gets to record its state before it is killed


def usable_cores() -> int:
    """The cores this process may run on: its affinity set (what `taskset`, a cgroup cpuset or
    a SLURM allocation gives it), not the machine's count, so that two pools pinned to halves
    of a machine each give their runs threads for their half, not for the whole."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_shares(workers: int) -> list[set[int]]:
    """Disjoint sets of this process's cores, one per worker slot (empty sets where there are
    fewer cores than workers: those runs are not pinned). A run's env worker processes
    inherit its set, so K runs on one GPU each keep their own CPU share for simulation."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return [set() for _ in range(workers)]
    if len(cores) < workers:
        return [set() for _ in range(workers)]
    per = len(cores) // workers
    return [set(cores[k * per:(k + 1) * per]) for k in range(workers)]


def _child(run: Run, results: str, threads: int, cores: set[int]) -> None:
    """Entry point of a run's process: its CPU share, output to the run's log, signals to
    interrupts."""
    from agents.run import stop_on_signals

    if cores:
        os.sched_setaffinity(0, cores)
    die_with_parent(signal.SIGTERM)  # SIGTERM: the run records "interrupted" first
    stop_on_signals()
    directory = run_dir(Path(results), run)
    directory.mkdir(parents=True, exist_ok=True)
    log = os.open(directory / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        execute_run(run, results, threads)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except RunFinishedError as exc:
        print(exc)
        sys.exit(EXIT_FINISHED)
    except RunBusyError as exc:
        print(exc)
        sys.exit(EXIT_BUSY)
    except Exception:
        import traceback

        traceback.print_exc()
        sys.exit(1)


def describe_progress(run: Run, status: dict | None) -> str:
    """One line for a run in flight, from its status.json heartbeat."""
    head = f"{run.id[:8]} {run.task.split('/')[-1]} {run.label} s{run.seed}"
    if status and status.get("state") == "done":
        return f"{head}: finishing"
    if not status or status.get("state") != "running":
        return f"{head}: starting"
    if status.get("phase") in ("data", "expert data"):  # the second: runs of older code
        got, total = status.get("collected"), status.get("episodes")
        return f"{head}: collecting data {got}/{total}" if got else f"{head}: data (waiting)"
    line = f"{head}: step {status.get('step', 0)}"
    if status.get("total"):
        line += f"/{status['total']}"
    if status.get("fps"):
        line += f", {status['fps']:.1f}/s"
    return line


class Display:
    """A bar of finished runs, plus a line per run in flight (or a status line per minute
    when bars are off, e.g. in logs)."""

    def __init__(self, total: int, slots: int, progress: bool):
        from tqdm import tqdm

        self.progress, self.total, self._last_print = progress, total, time.time()
        self.bar = tqdm(total=total, desc="runs", unit="run", disable=not progress,
                        dynamic_ncols=True)
        self.lines = [tqdm(total=0, bar_format="{desc}", position=i + 1, leave=False,
                           disable=not progress) for i in range(slots)]

    def refresh(self, active: list[Run], results: Path, outcome: dict) -> None:
        texts = [describe_progress(r, read_status(run_dir(results, r))) for r in active]
        if self.progress:
            for i, line in enumerate(self.lines):
                line.set_description_str(f"  {texts[i]}" if i < len(texts) else "", refresh=True)
            self.bar.set_postfix(outcome, refresh=True)
        elif time.time() - self._last_print >= 60:
            self._last_print = time.time()
            finished = sum(outcome.values())
            print(f"runs: {finished}/{self.total} finished; in flight: " + "; ".join(texts),
                  flush=True)

    def finished(self, message: str | None) -> None:
        if message:
            self.write(message)
        self.bar.update(1)

    def write(self, message: str) -> None:
        if self.progress:
            self.bar.write(message)
        else:
            print(message, flush=True)

    def close(self) -> None:
        for line in self.lines:
            line.close()
        self.bar.close()


def failure(directory: Path) -> str:
    """Why a run failed, for the console: its status's reason, else its log's last line."""
    from study.state import last_log_line

    status = read_status(directory) or {}
    reason = status.get("error") if status.get("state") == "failed" else None
    return reason or last_log_line(directory / "log.txt") or f"see {directory / 'log.txt'}"


def _stop(procs: dict[str, mp.Process]) -> None:
    """Ask every run to stop (SIGTERM: it records "interrupted"), then kill stragglers."""
    for proc in procs.values():
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.time() + STOP_GRACE_S
    for proc in procs.values():
        proc.join(max(0.0, deadline - time.time()))
        if proc.is_alive():
            proc.kill()
            proc.join()


def _record_death(run: Run, results: Path, proc: mp.Process) -> str:
    """A run killed without a word still says "running": record what happened to it (a run
    whose checkpoint says it finished is done, whenever it died)."""
    from agents.run import repair, write_status

    directory = run_dir(results, run)
    status = read_status(directory) or {}
    how = f"killed by {signal.Signals(-proc.exitcode).name}" if proc.exitcode < 0 else \
        f"exit code {proc.exitcode}"
    if status.get("state") == "done" or (repair(directory) or {}).get("state") == "done":
        return how
    if status.get("state") in (None, "running", "pending"):
        write_status(directory, "interrupted", step=status.get("step", 0), pid=proc.pid,
                     error=f"worker process {how}")
    return how


def run_local(runs: list[Run], results: Path, workers: int, progress: bool = True) -> dict:
    """Run every run, `workers` at a time; returns counts of done, failed and interrupted."""
    cores = usable_cores()
    workers = max(1, min(workers, len(runs)))
    threads = max(1, cores // workers)
    outcome = {"done": 0, "failed": 0, "interrupted": 0, "elsewhere": 0}
    if not runs:
        return outcome
    for var in THREAD_VARS:  # inherited by the spawned interpreters before torch loads
        os.environ[var] = str(threads)
    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited GL or torch thread state
    shares = cpu_shares(workers)
    free = list(range(workers))  # worker slots, each with its CPU share
    queue, active = list(runs), {}
    display = Display(len(runs), workers, progress)
    try:
        while queue or active:
            while queue and free:
                run, slot = queue.pop(0), free.pop(0)
                proc = ctx.Process(target=_child, name=f"run-{run.id}",
                                   args=(run, str(results), threads, shares[slot]))
                proc.start()
                active[run.id] = (run, proc, slot)
            for key, (run, proc, slot) in list(active.items()):
                if proc.is_alive():
                    continue
                proc.join()
                del active[key]
                free.append(slot)
                name = f"{run.id} ({run.task} {run.label} seed {run.seed})"
                if proc.exitcode == 0:
                    outcome["done"] += 1
                    display.finished(None)
                elif proc.exitcode == EXIT_BUSY:
                    outcome["elsewhere"] += 1
                    who = holder(run_dir(results, run))
                    display.finished(f"skipped {name}: {who} is training it")
                elif proc.exitcode == EXIT_FINISHED:
                    outcome["elsewhere"] += 1
                    display.finished(f"skipped {name}: another process finished it")
                elif proc.exitcode == 1:
                    outcome["failed"] += 1
                    display.finished(f"failed {name}: {failure(run_dir(results, run))}")
                else:
                    outcome["interrupted"] += 1
                    how = _record_death(run, results, proc)
                    display.finished(f"interrupted {name}: {how}; re-run to resume it")
            display.refresh([a[0] for a in active.values()], results, outcome)
            time.sleep(0.5)
    except KeyboardInterrupt:
        display.write("interrupted: stopping the runs; re-run the same command to resume")
        _stop({k: a[1] for k, a in active.items()})
        raise
    finally:
        display.close()
    return outcome
