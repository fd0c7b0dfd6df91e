"""The README's front-page tables are checked against the registries: its suite table row for
row against agents/envs/registry.py, its study table and its claims table against
study/specs.py (a study or suite added without its README row fails here)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def table(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the markdown table whose header line starts `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def suite_rows() -> list[str]:
    """The README's suite table as the registry says it (paste these on a change)."""
    from agents.envs import SUITES

    return [f"| `{s.prefix}` | {s.summary} | `{s.pattern}` | {', '.join(s.families)} | "
            f"{s.success} |" for s in SUITES.values()]


def test_the_suite_table_is_the_registry():
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    start = lines.index("| suite | what | tasks | agent | success |")
    shown = [line for line in lines[start + 2:start + 2 + len(suite_rows()) + 1]
             if line.startswith("|")]
    assert shown == suite_rows(), "README suite table, from the registry:\n" + "\n".join(
        suite_rows())


def test_the_study_table_lists_every_study():
    from study.specs import STUDIES

    rows = table((ROOT / "README.md").read_text(), "| study | what it compares")
    assert [r[0].strip("`") for r in rows if r[0].strip("`") in STUDIES] == \
        [r[0].strip("`") for r in rows]
    assert {r[0].strip("`") for r in rows} == set(STUDIES)


def test_the_claims_table_names_each_study_its_command_and_notebook():
    from study.specs import STUDIES

    rows = table((ROOT / "README.md").read_text(), "| claim (the paper) |")
    named = set()
    for claim, study, command, notebook, *scales in rows:
        name = study.strip("`")
        assert name in STUDIES, f"the claims table names an unknown study {study}"
        assert command == f"`python -m study.run {name}`", claim
        assert notebook == f"`notebooks/{STUDIES[name].notebook_file}`", claim
        assert (ROOT / "notebooks" / STUDIES[name].notebook_file).is_file()
        assert len(scales) == 3 and all(scales), f"a verdict per scale, or 'not measured': {claim}"
        named.add(name)
    assert named == set(STUDIES), f"studies without a claims row: {set(STUDIES) - named}"


def test_the_docs_name_every_study_and_suite():
    """docs/studies.md's study table lists every study; docs/training.md names every suite."""
    from agents.envs import SUITES
    from study.specs import STUDIES

    rows = table((ROOT / "docs" / "studies.md").read_text(), "| study | grid |")
    assert {r[0].strip("`") for r in rows} == set(STUDIES)
    training = (ROOT / "docs" / "training.md").read_text()
    missing = [s.prefix for s in SUITES.values() if f"`{s.prefix}" not in training]
    assert not missing, f"docs/training.md does not name {missing}"
