"""The layout's rules (docs/layout.md), read from the source: no import cycles and no upward
imports (deferred imports inside functions count), models that do not import the machinery,
study/ and analyses/ through the rooms' front doors, and small modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "study", "analyses")
# The algorithm's model code: it may import shared layers, the weighting and the config, never
# the update harness or the machinery that runs it.
MODELS = ("agents/nets", "agents/dreamerv2/networks.py", "agents/dreamerv2/world_model.py",
          "agents/dreamerv2/behaviour.py", "agents/dreamerv2/truncated_normal.py",
          "agents/dreamerv3/networks.py", "agents/dreamerv3/world_model.py",
          "agents/dreamerv3/behaviour.py", "agents/dreamerv3/distributions.py",
          "agents/weighting.py", "agents/gradients.py", "agents/aggregation.py")
MACHINERY = ("agents.update", "agents.run", "agents.data", "agents.envs", "agents.train",
             "agents.evaluate", "agents.bench", "study", "analyses")
MAX_LINES = 450  # "about 400"
# The layers, lowest first: a module may import its own layer or a lower one, never a higher
# one. A module's layer is that of the longest name below that it starts with. The config's
# checks (presets, validation) sit above the suites and data mixes they check a config against;
# its schema sits below everything. A family's agent.py joins its model to the shared update.
LAYERS = (
    ("agents", "study", "agents.files", "agents.parent_death", "agents.errors",
     "agents.cli"),  # (and the package __init__s)
    ("agents.config.schema", "agents.config.weightings"),
    ("agents.envs",),
    ("agents.config",),
    ("agents.data",),
    ("agents.nets", "agents.weighting", "agents.gradients"),
    ("agents.dreamerv2", "agents.dreamerv3"),
    ("agents.update",),
    ("agents.dreamerv2.agent", "agents.dreamerv3.agent", "agents.families"),
    ("agents.run",),
    ("agents.train", "agents.evaluate", "agents.bench", "agents.bench_breakdown", "agents.export",
     "agents.config.__main__"),
    # a study: spec -> grid -> run states (study.state) -> results store -> what a report
    # reads -> executors -> command lines; analyses read the results (study.report runs the
    # analyses' notebooks in kernels of their own, without importing them)
    ("study.specs",), ("study.grid",), ("study.state",), ("study.results",),
    ("study.selection",), ("study.run_one",), ("study.local", "study.slurm"),
    ("study.run", "study.status", "study.dashboard", "study.report"),
    ("analyses",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports(path: Path, top_level_only: bool, known: dict[str, Path]) -> set[str]:
    """The project modules `path` imports (`from a.b import c` counts a.b.c where that is one
    of the `known` modules, else a.b)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def import_graph() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports, at the top or inside a function
    (a deferred import still makes a cycle: it only hides it until the function runs)."""
    known = modules()
    return {name: {m for m in imports(path, False, known) if m != name}
            for name, path in known.items()}


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt in graph and not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if not state.get(name):
            visit(name)


def layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (
                    best is None or len(name) > best[1]):
                best = (i, len(name))
    return None if best is None else best[0]


def upward_imports() -> list[str]:
    bad = []
    for name, deps in sorted(import_graph().items()):
        here = layer(name)
        if here is None:
            bad.append(f"{name} has no layer in tests/test_layout.py LAYERS")
            continue
        bad += [f"{name} imports {dep}, a higher layer" for dep in sorted(deps)
                if (there := layer(dep)) is not None and there > here]
    return bad


def test_no_upward_imports():
    bad = upward_imports()
    assert not bad, "; ".join(bad)


def test_models_do_not_import_the_machinery():
    bad = []
    known = modules()
    for path in known.values():
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(MODELS):
            continue
        for m in imports(path, top_level_only=False, known=known):
            if m.startswith(MACHINERY):
                bad.append(f"{rel} imports {m}")
    assert not bad, "; ".join(bad)


def bound_names(path: Path) -> set[str]:
    """The names a module binds at its top level (imports, defs, assignments)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def front_door_violations() -> list[str]:
    """Imports by study/ and analyses/ of an inner file of agents/ (`agents.run.status`,
    also as `from agents.run import status`) rather than a room's front door (a name its
    __init__ binds: `from agents.run import read_status`) or a top-level module
    (`agents.train`), lazy imports included."""
    known = modules()
    doors = {name: bound_names(path) for name, path in known.items()
             if path.name == "__init__.py"}
    bad = []
    for name, path in known.items():
        if not name.startswith(("study", "analyses")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                bound = doors.get(node.module, set())
                found = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                         if f"{node.module}.{a.name}" in known
                                         and a.name not in bound]
            else:
                continue
            bad += [f"{path.relative_to(ROOT).as_posix()} imports {m}" for m in found
                    if m.startswith("agents.") and m.count(".") > 1]
    return sorted(bad)


def test_study_and_analyses_use_the_front_doors():
    bad = front_door_violations()
    assert not bad, "; ".join(bad)


def test_modules_are_small():
    big = {p.relative_to(ROOT).as_posix(): n for p in modules().values()
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_the_checks_see_a_cycle_and_a_forbidden_import(tmp_path):
    """The rules can fail: a planted cycle made by an import inside a function, an upward
    import and a model importing the loop are caught."""
    import pytest

    pkg = tmp_path / "agents"
    (pkg / "nets").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "nets" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from agents import b\n")
    (pkg / "b.py").write_text("def f():\n    import agents.a  # deferred: still a cycle\n")
    (pkg / "files.py").write_text("def g():\n    from agents.nets import x\n")
    (pkg / "nets" / "x.py").write_text("def f():\n    from agents.run.loop import Trainer\n")
    for sub in ("study", "analyses"):
        (tmp_path / sub).mkdir()
    (tmp_path / "study" / "s.py").write_text("from agents.run import status\n")
    (pkg / "run").mkdir()
    (pkg / "run" / "__init__.py").write_text("")
    (pkg / "run" / "status.py").write_text("")
    globals()["ROOT"], saved = tmp_path, ROOT
    try:
        with pytest.raises(AssertionError, match="import cycle: agents.a -> agents.b -> agents.a"):
            test_no_import_cycles()
        assert "agents.files imports agents.nets.x, a higher layer" in upward_imports()
        with pytest.raises(AssertionError, match="agents/nets/x.py imports agents.run.loop"):
            test_models_do_not_import_the_machinery()
        assert front_door_violations() == ["study/s.py imports agents.run.status"]
    finally:
        globals()["ROOT"] = saved


def test_the_run_front_door_loads_torch_only_on_use():
    """`study.run` starts without torch; the torch-bound names of `agents.run` resolve on use."""
    import subprocess
    import sys

    code = ("import sys, study.run, study.status, study.report; "
            "assert 'torch' not in sys.modules, 'study imports torch'; "
            "import agents.run as r; r.load_checkpoint; r.snapshot_path; r.heldout_metrics; "
            "assert 'torch' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
