"""Results store: results/<run-id>/ per run, results/studies/<study>.json per study (every run
the study listed here, and the history of the commands that listed them).

A run directory is the training run's own directory (config.json, metrics.jsonl, status.json,
ckpt.pt, replay/) plus provenance.json. Every file is written atomically (write, then rename),
so concurrent jobs writing into one tree never leave a half-written file behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from agents.files import atomic_write_text
from study.grid import Run, get_study

PACKAGES = ("torch", "numpy", "mujoco", "dm_control", "metaworld", "gymnasium", "submitit")


def run_dir(results: Path, run: Run) -> Path:
    return Path(results) / run.id


class StudyIndexError(ValueError):
    """A study index that cannot be read: one line, with the command that rebuilds it."""

    def __init__(self, path: Path, study: str, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"study index {path} is damaged ({reason}); rebuild it with "
                         f"`python -m study.run {study} --index-only` and the --preset, "
                         f"--tasks, --seeds and --set it ran with (runs nothing)")


INDEX_KEYS = ("run_id", "task", "label", "seed")  # what every reader of an index needs


def index_path(results: Path, study: str) -> Path:
    return Path(results) / "studies" / f"{study}.json"


def parse_study_index(path: Path, study: str) -> dict:
    """The index at `path`, checked for the shape its readers rely on (StudyIndexError if
    not); FileNotFoundError where there is none."""
    try:
        index = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise StudyIndexError(path, study, f"not text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise StudyIndexError(path, study, f"not JSON: {exc.msg} at line {exc.lineno}") from None
    except OSError as exc:
        raise StudyIndexError(path, study, f"unreadable: {exc.strerror or exc}") from None
    if not isinstance(index, dict) or not isinstance(index.get("runs"), list):
        raise StudyIndexError(path, study, "no list of runs")
    for i, row in enumerate(index["runs"]):
        missing = [k for k in INDEX_KEYS if not isinstance(row, dict) or k not in row]
        if missing:
            raise StudyIndexError(path, study, f"run {i} has no {', '.join(missing)}")
        rid = row["run_id"]
        if not isinstance(rid, str) or not rid or "/" in rid or rid in (".", ".."):
            raise StudyIndexError(path, study, f"run {i} has a bad run id {rid!r}")
    if not isinstance(index.get("invocations", []), list):
        raise StudyIndexError(path, study, "invocations is not a list")
    return index


def read_study_index(results: Path, study: str) -> dict:
    """results/studies/<study>.json; FileNotFoundError if the study never ran here,
    StudyIndexError (one line, saying how to rebuild it) if it is damaged."""
    return parse_study_index(index_path(results, study), study)


def recorded_runs(results: Path, study: str) -> list[dict]:
    """The runs results/studies/<study>.json records, for the commands that read a study's
    runs (study.status, study.dashboard): ConfigError (one line) for an unknown study or one
    never run here, StudyIndexError for a damaged index."""
    from agents.config import ConfigError

    get_study(study)  # the message study.run and study.report give
    try:
        return read_study_index(results, study)["runs"]
    except FileNotFoundError:
        raise ConfigError(f"no runs recorded for study {study!r} in {results} "
                          f"(run: python -m study.run {study})") from None


def variant_set(overrides: list[str] | None) -> list[str]:
    """The `--set` overrides that make a configuration, one per key (the last wins), sorted:
    execution-only keys (agents/config/identity.py EXECUTION_KEYS) run the same runs."""
    from agents.config import EXECUTION_KEYS

    execution = {f"{section}.{key}" for section, key in EXECUTION_KEYS}
    by_key = {item.partition("=")[0].strip(): item.strip() for item in overrides or []}
    return sorted(v for k, v in by_key.items() if k not in execution)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock beside `path` (read-merge-write of the index by concurrent
    commands)."""
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_study_index(results: Path, study: str, runs: list[Run], preset: str,
                      overrides: list[str] | None = None, tasks: list[str] | None = None,
                      seeds: int | None = None) -> Path:
    """Record a validated grid in the study index, keeping what earlier commands recorded.

    `runs` holds every run the study ever listed here (one row per run id, each with the
    preset and `--set` of the command that last listed it and that command's number), and
    `invocations` one entry per command: a command whose runs fail at once leaves the
    finished runs of earlier ones in the index, for study.status and study.report. A damaged
    index is kept beside it as <study>.json.damaged and a new history starts (one warning).
    """
    index = index_path(results, study)
    index.parent.mkdir(parents=True, exist_ok=True)
    with _locked(index):
        try:
            previous = parse_study_index(index, study)
        except FileNotFoundError:
            previous = {}
        except StudyIndexError as exc:
            aside = index.with_name(index.name + ".damaged")
            os.replace(index, aside)
            print(f"warning: study index {index} was damaged ({exc.reason}); kept as "
                  f"{aside.name}, a new index starts from this grid", file=sys.stderr)
            previous = {}
        invocations = list(previous.get("invocations", []))
        rows = {}
        if previous and not invocations:  # an index from before the history was kept
            invocations.append({"time": None, "preset": previous.get("preset"), "set": None,
                                "runs": len(previous["runs"])})
        for row in previous.get("runs", []):
            rows.setdefault(row["run_id"], {"preset": previous.get("preset"), "set": None,
                                            "invocation": 0, **row})
        number = len(invocations)
        config_set = variant_set(overrides)
        for r in runs:
            rows.pop(r.id, None)  # listed again: it moves to this command's place
            rows[r.id] = {"run_id": r.id, "task": r.task, "label": r.label,
                          "weighting": r.config.weighting.name, "w_o": r.config.weighting.w_o,
                          "w_r": r.config.weighting.w_r, "w_d": r.config.weighting.w_d,
                          "seed": r.seed, "mode": r.config.train.mode, "preset": preset,
                          "set": config_set,
                          "invocation": number}
        invocations.append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "preset": preset, "set": list(overrides or []),
                            "tasks": list(tasks) if tasks else None, "seeds": seeds,
                            "runs": len(runs)})
        head = {"study": study, "preset": preset}
        scales = dict(previous.get("scales", {}))
        scale = get_study(study).scales.get(preset)  # a study's own (else specs.SCALES)
        if scale:
            head["scale"] = scale  # analyses/load.py scale_note says it instead of the preset's
            scales[preset] = scale
        if scales:
            head["scales"] = scales
        atomic_write_text(index, json.dumps({**head, "runs": list(rows.values()),
                                             "invocations": invocations}, indent=1))
    return index


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def read_provenance(path: Path) -> dict:
    """provenance.json's earlier record; a damaged one is rebuilt from now on (one line),
    never a reason to stop the run."""
    try:
        previous = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        previous = exc
    if isinstance(previous, dict) and isinstance(previous.get("git_commits", []), list):
        return previous
    print(f"warning: {path} was damaged; rebuilt (its earlier start time and commits are "
          "lost)", file=sys.stderr)
    return {}


def write_provenance(directory: Path, run: Run, **extra) -> None:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    path = Path(directory) / "provenance.json"
    previous = read_provenance(path)
    # The code a run executes is the checkout at each (re)start, not at its end: commits are
    # recorded when a process starts the run, the first as `git_commit`.
    commits = [c for c in previous.get("git_commits", []) if isinstance(c, str)]
    if "end_time" not in extra and (now := _git_commit()) not in commits:
        commits = [*commits, now]
    record = {"run_id": run.id, "study": run.study, "label": run.label,
              "git_commit": commits[0] if commits else "unknown", "git_commits": commits,
              "host": socket.gethostname(),
              "python": platform.python_version(), "packages": versions,
              "start_time": previous.get("start_time", time.time()), **extra}
    atomic_write_text(path, json.dumps(record, indent=1))
