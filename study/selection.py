"""Which of a study's recorded runs a report reads: the study's index, each run's true state
(study/state.py) and one configuration's runs, or NoResultsError (one line) where nothing can
be reported. analyses/load.py loads these runs' metrics; study.report asks here first, before
it starts a notebook."""

from __future__ import annotations

from pathlib import Path

from study.results import StudyIndexError, read_study_index
from study.specs import STUDIES
from study.state import run_states


class NoResultsError(RuntimeError):
    """A study with no run that can be analysed."""


def study_index(results: str | Path, study: str) -> dict:
    """results/studies/<study>.json (study/results.py write_study_index); NoResultsError, one
    line saying what to run, where it is missing or damaged."""
    try:
        return read_study_index(Path(results), study)
    except FileNotFoundError:
        raise NoResultsError(f"no runs of study {study!r} under {results} "
                             f"(run `python -m study.run {study}` first)") from None
    except StudyIndexError as exc:
        raise NoResultsError(str(exc)) from None


def variant(index: dict, row: dict) -> tuple:
    """The configuration a run belongs to: its study preset and its `--set` (None: not
    recorded, an index from before the history was kept)."""
    config_set = row.get("set", None) if "invocation" in row else None
    return (row.get("preset", index.get("preset")),
            None if config_set is None else tuple(config_set))


def _describe(variant: tuple) -> str:
    preset, config_set = variant
    sets = ("--set unrecorded" if config_set is None
            else " ".join(f"--set {s}" for s in config_set) or "no --set")
    return f"preset {preset}, {sets}"


def report_rows(index: dict, states: dict[str, str], wanted: tuple[str, ...],
                study: str = "") -> tuple[list[dict], str]:
    """The index rows a report reads, and a note on those it leaves out.

    Each run counts once (an index may list it more than once). A run listed under two
    labels is two cells resolved to one run: comparing them would compare it with itself, so
    that is NoResultsError. Runs of several configurations (preset and `--set`) are not
    pooled as seeds: the report reads the latest configuration that has runs in `wanted`
    states (else the latest one)."""
    labels: dict[str, set] = {}
    for row in index["runs"]:
        labels.setdefault(row["run_id"], set()).add(row["label"])
    for run_id, names in labels.items():
        if len(names) > 1:
            raise NoResultsError(
                f"study {study or index.get('study', '?')!r} lists run {run_id} as "
                f"{' and '.join(sorted(names))}: its cells resolved to the same run, which a "
                f"report would compare with itself; run the study again without --set on "
                f"its weights or seeds")
    first: dict[str, dict] = {}
    for row in index["runs"]:
        first.setdefault(row["run_id"], row)
    rows = list(first.values())
    latest: dict[tuple, tuple[bool, int]] = {}
    for row in rows:
        key = variant(index, row)
        has, last = latest.get(key, (False, -1))
        latest[key] = (has or states.get(row["run_id"]) in wanted,
                       max(last, int(row.get("invocation", 0))))
    if len(latest) <= 1:
        return rows, ""
    chosen = max(latest, key=lambda k: latest[k])  # finished runs first, then the latest
    others = [r for r in rows if variant(index, r) != chosen]
    kinds = sorted({_describe(variant(index, r)) for r in others})
    note = (f"left out {len(others)} run(s) of other configuration(s) ({'; '.join(kinds)}); "
            f"this report is of {_describe(chosen)}")
    return [r for r in rows if variant(index, r) == chosen], note


def run_statuses(results: Path, index: dict) -> dict[str, str]:
    """{run id: its true state} for the index's runs, read by study.state (the one reader of a
    run's state: checked, repaired from the run's record, and checked alive)."""
    ids = list(dict.fromkeys(row["run_id"] for row in index["runs"]))
    return {rid: st.state for rid, st in zip(ids, run_states([results / r for r in ids]),
                                             strict=True)}


def interim(study: str) -> bool:
    """Whether `study`'s report shows unfinished runs too (study/specs.py Study.interim)."""
    return study in STUDIES and STUDIES[study].interim


def reportable(results: str | Path, study: str, include_running: bool | None = None
               ) -> tuple[list[dict], dict[str, str], tuple[str, ...], str]:
    """The index rows a report reads, every run's state, the states it reads (done; and
    running and interrupted with `include_running`, by default for an interim study) and a
    note on runs of other configurations left out; NoResultsError where none is in those
    states with a metrics file."""
    if include_running is None:
        include_running = interim(study)
    results = Path(results)
    index = study_index(results, study)
    wanted = ("done", "running", "interrupted") if include_running else ("done",)
    status = run_statuses(results, index)
    rows, note = report_rows(index, status, wanted, study)
    # as analyses/load.py's load_study finds them: in a wanted state, with a metrics file
    if not any(status[row["run_id"]] in wanted
               and (results / row["run_id"] / "metrics.jsonl").is_file() for row in rows):
        raise nothing_to_report(results, study, len(rows), include_running)
    return rows, status, wanted, note


def nothing_to_report(results: str | Path, study: str, runs: int,
                      include_running: bool) -> NoResultsError:
    what = "runs with metrics" if include_running else "finished runs"
    return NoResultsError(f"study {study!r} has no {what} under {results} ({runs} in its grid)")
