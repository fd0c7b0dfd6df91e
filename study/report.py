"""Execute a study's report notebook: python -m study.report STUDY [--results DIR] [--out DIR].

papermill runs the study's notebook (Study.notebook_file: notebooks/STUDY.ipynb) with the
results and output directories as parameters; the output directory receives the executed
notebook, an HTML export, and every figure as PNG and PDF under figures/.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from agents.config import ConfigError
from agents.run import Parser, path_arg, stop_on_signals
from study.grid import get_study
from study.specs import STUDIES

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m study.report", description=__doc__)
    p.add_argument("study", help=f"one of: {', '.join(STUDIES)}")
    p.add_argument("--results", default="results", type=path_arg("a results directory"),
                   help="results directory (default: results)")
    p.add_argument("--out", type=path_arg("an output directory"),
                   help="output directory (default: RESULTS/reports/STUDY)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def check_results(results: Path, study: str) -> str | None:
    """None if the study has finished runs to report on, else the reason why not."""
    from study.selection import NoResultsError, reportable

    try:
        reportable(results, study)
    except NoResultsError as exc:
        return str(exc)
    return None


def out_problem(out: Path) -> str | None:
    """None if `out` is a directory or can be made one, else why not."""
    if out.exists() and not out.is_dir():
        return "is a file, not a directory"
    for parent in out.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is not a directory"
    return None


def to_html(notebook: Path, title: str | None = None) -> Path:
    """The executed notebook as HTML, titled `title` (else the notebook's name)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(
        nbformat.read(notebook, as_version=4),
        resources={"metadata": {"name": title or notebook.stem}})
    html = notebook.with_suffix(".html")
    html.write_text(body)
    return html


def staging(out: Path) -> Path:
    """Where a report is written before it replaces the one in `out`: beside it, hidden."""
    return out.with_name(f".{out.name}.partial-{os.getpid()}")


def report(study: str, results: Path, out: Path, reps: int = 2000,
           progress: bool = True) -> list[Path]:
    """Execute the notebook; returns the files written (notebook, HTML, figures). The report
    is made in a staging folder and moved into `out` only once whole: a failure or Ctrl-C
    leaves `out` as it was, and no half-written file (the staging folder is removed)."""
    import papermill as pm

    stage = staging(out)
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    notebook = get_study(study).notebook_file
    executed = stage / notebook
    try:
        pm.execute_notebook(
            str(NOTEBOOKS / notebook), str(executed), kernel_name="python3",
            parameters={"results": str(results.resolve()), "study": study,
                        "out_dir": str(stage.resolve()), "reps": reps},
            cwd=str(NOTEBOOKS.parent), progress_bar=progress,
            # The kernel's own log is noise on the user's terminal: its start-up warning about
            # TCP without encryption (a local kernel on loopback), and its socket errors when
            # Ctrl-C shuts it down mid-cell. A cell's error still shows (papermill raises it).
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        # The notebook names the folder it wrote to: the report's own, once moved.
        executed.write_text(executed.read_text().replace(str(stage.resolve()),
                                                         str(out.resolve())))
        title = f"HarmonyDream study {study}: {STUDIES[study].description.split(':')[0]}"
        to_html(executed, title)
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out / "figures", ignore_errors=True)
        for path in sorted(stage.iterdir()):
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [out / executed.name, out / f"{study}.html",
            *sorted((out / "figures").glob("*.*"))]


def pm_errors() -> type[Exception]:
    from papermill.exceptions import PapermillExecutionError

    return PapermillExecutionError


INTERRUPTED = "interrupted; no report written (any earlier one is left as it was)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        get_study(args.study)  # the message study.run and study.status give
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.reps < 100:
        print(f"error: --reps must be at least 100 (got {args.reps})", file=sys.stderr)
        return 2
    results = Path(args.results)
    if not results.is_dir():
        print(f"error: no results directory {results}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else results / "reports" / args.study
    bad_out = out_problem(out)
    if bad_out:
        print(f"error: --out {out}: {bad_out}", file=sys.stderr)
        return 2
    reason = check_results(results, args.study)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot write the report to --out {out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    start = time.time()
    stop_on_signals()  # SIGTERM as Ctrl-C
    # A Ctrl-C reaches the kernel too: papermill's client then logs the kernel's death, and
    # asyncio an unretrieved task at exit, after our one line. A failing cell is still
    # reported (PapermillExecutionError, below).
    for name in ("papermill", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        files = report(args.study, results, out, args.reps, not args.no_progress)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except pm_errors() as exc:
        if exc.ename == "KeyboardInterrupt":  # the kernel was interrupted (Ctrl-C reaches it)
            print(INTERRUPTED, file=sys.stderr)
            return 130
        if exc.ename == "CellExecutionError" and not exc.evalue and not exc.traceback:
            # The kernel stopped inside a cell without an error of its own (papermill's
            # placeholder): an interrupt that landed outside the cell's code, or a kill.
            print(f"interrupted: the notebook kernel stopped in cell {exc.exec_count} without "
                  f"an error; no report written (any earlier one is left as it was)",
                  file=sys.stderr)
            return 130
        print(f"error: report notebook failed in cell {exc.exec_count}: {exc.ename}: "
              f"{exc.evalue} (nothing written to {out})", file=sys.stderr)
        return 1
    print(f"{args.study}: report in {out} ({time.time() - start:.0f} s)")
    for path in files:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before the report started (imports, checking the results)
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
