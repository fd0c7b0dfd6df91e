"""The study registry is the one place a study's facts live: a toy study registered here (one
`Study(...)` entry) expands to a grid, dry-runs, records its index with its scale note, and its
report settings (interim, notebook, scales) are read from the entry."""

from __future__ import annotations

import json

import pytest

from study.specs import SCALES, STUDIES, Study, fixed


@pytest.fixture
def toy():
    STUDIES["toy"] = Study("toy", "a test's toy study", ("dmc/cartpole-swingup",),
                           (fixed(1), fixed(10)), seeds={"smoke": 2}, interim=True,
                           notebook="finding1.ipynb",
                           scales={"smoke": "a toy's smoke scale"})
    try:
        yield STUDIES["toy"]
    finally:
        STUDIES.pop("toy")


def test_a_toy_study_takes_one_entry(toy, tmp_path, capsys):
    from analyses.load import interim
    from study.grid import expand
    from study.run import main

    runs = expand("toy", "smoke")
    assert len(runs) == 4 and {r.label for r in runs} == {"w_r=1", "w_r=10"}
    assert main(["toy", "--preset", "smoke", "--dry-run", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("dmc/cartpole-swingup") == 4
    assert main(["toy", "--preset", "smoke", "--index-only", "--results", str(tmp_path)]) == 0
    index = json.loads((tmp_path / "studies" / "toy.json").read_text())
    assert index["scale"] == "a toy's smoke scale" and len(index["runs"]) == 4
    assert interim("toy") and toy.notebook_file == "finding1.ipynb"
    assert toy.scale("quick") == SCALES["quick"]


def test_every_study_has_its_notebook():
    from study.report import NOTEBOOKS

    for study in STUDIES.values():
        assert (NOTEBOOKS / study.notebook_file).is_file(), study.name
