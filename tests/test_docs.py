"""The README and the docs/ pages say true things about the tree they ship in.

- Every relative link (`[text](path)`, `[text](path#anchor)`, `[text](#anchor)`, images and
  reference-style definitions) names a file or folder that exists, and an anchor into a
  Markdown file names one of its headings (GitHub's slugs) or an explicit `<a id=...>`.
- Every `python -m MODULE ...` command shown in a fenced code block or an inline code span
  parses: each module answers `--help`; `study.run` commands run with `--dry-run` (against an
  empty results directory); `agents.train`, `study.report`, `study.status` and `agents.bench`
  commands go through the module's own argument parser (and config resolution where the
  module does it), which trains, benchmarks and reports nothing. Commands with placeholders
  (DIR, STUDY, <...>, [...], $VAR) get only the module check.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT_S = 120

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


# ----------------------------------------------------------------------------- links


def without_fences(text: str) -> str:
    """The text with fenced blocks blanked (line structure kept): a `#` line in a shell block
    is no heading."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def without_code(text: str) -> str:
    """The text with fenced blocks and inline code blanked: `[x](y)` inside code is no link."""
    text = without_fences(text)
    return INLINE_CODE.sub(lambda m: " " * len(m.group(0)) if "\n" not in m.group(0)
                           else "\n" * m.group(0).count("\n"), text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text, lowercased, punctuation other than
    '-' and '_' dropped, spaces turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    text = re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text)  # emphasis markers, not snake_case
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown page offers: heading slugs (a repeated slug gets -1, -2, ... as
    on GitHub) and explicit HTML anchors."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(without_fences(text)):
        base = slug(match.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    found.update(HTML_ANCHOR.findall(text))
    return found


def link_targets(text: str) -> list[str]:
    plain = without_code(text)
    return [*LINK.findall(plain), *REFERENCE_DEF.findall(plain)]


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """One line per relative link in `page` (its text read from disk unless given) whose file
    is missing or whose anchor is not a heading of the Markdown file it points into."""
    text = page.read_text(encoding="utf-8") if text is None else text
    problems = []
    for target in link_targets(text):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # a URL, not a path in this tree
        path_part, _, anchor = target.partition("#")
        path_part = path_part.split("?", 1)[0]
        if path_part:
            if path_part.startswith("/"):
                problems.append(f"{page.name}: {target}: an absolute path (use a relative one)")
                continue
            dest = (page.parent / path_part).resolve()
            if not dest.exists():
                problems.append(f"{page.name}: {target}: no such file")
                continue
            if not (anchor and dest.is_file() and dest.suffix.lower() == ".md"):
                continue
            dest_name, dest_text = dest.name, dest.read_text(encoding="utf-8")
        else:  # #anchor: a heading of this page
            dest_name, dest_text = page.name, text
        if anchor and anchor not in anchors(dest_text):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {dest_name}")
    return problems


def test_the_link_checker_reports_a_broken_link_and_a_broken_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Results (2026-11-24, `quick`)\n")
    (tmp_path / "real.txt").write_text("x")
    page = tmp_path / "page.md"
    text = """# A page

## Faults, and what happens after each

[fine](other.md) [fine too](other.md#results-2026-11-24-quick) [self](#a-page)
[here](#faults-and-what-happens-after-each) [a file](real.txt) [web](https://example.org/x)
[gone](missing.md) [bad anchor](other.md#no-such-heading) [bad self](#nowhere)
![img](missing.png)

[ref]: also-missing.md

```bash
# not a heading; [not a link](nowhere.md)
```
and `[not a link either](nowhere.md)`.
"""
    problems = broken_links(page, text)
    assert len(problems) == 5, problems
    for bad in ("missing.md", "other.md#no-such-heading", "#nowhere", "missing.png",
                "also-missing.md"):
        assert any(f" {bad}: " in p for p in problems), (bad, problems)
    assert "not-a-heading-not-a-link" not in anchors(text)


def test_slugs_follow_github():
    assert slug("Presets: online and offline") == "presets-online-and-offline"
    assert slug("Acting while the GPU trains (`train.overlap`)") == \
        "acting-while-the-gpu-trains-trainoverlap"
    assert slug("The first online curves: `dreamer_check` at `quick` (2026-11-24)") == \
        "the-first-online-curves-dreamer_check-at-quick-2026-11-24"
    assert slug("**Bold** and [a link](x.md)") == "bold-and-a-link"
    assert anchors("# A\n\n## A\n") == {"a", "a-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in link_targets(readme)
              if not SCHEME.match(t)}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


# ----------------------------------------------------------------------------- commands

PYTHON = re.compile(r"^(?:\S*/)?python(?:3(?:\.\d+)?)?$")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}


def code_texts(text: str) -> list[str]:
    """Fenced blocks (whole) and inline code spans (newlines folded) of a Markdown page."""
    blocks = [m.group(2) for m in FENCE.finditer(text)]
    rest = FENCE.sub("", text)
    spans = [re.sub(r"\s+", " ", m.group(2)) for m in INLINE_CODE.finditer(rest)]
    return blocks + spans


def python_commands(code: str) -> list[tuple[str, list[str]]]:
    """(module, arguments) of every `python -m MODULE ...` in a piece of shell."""
    code = re.sub(r"\\\n", " ", code)  # line continuations
    found = []
    for line in code.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:  # unbalanced quotes: not shell we can read
            continue
        segment: list[str] = []
        for token in [*tokens, ";"]:
            if token in SHELL_OPERATORS or token.endswith(";"):
                if token.endswith(";") and token != ";":
                    segment.append(token[:-1])
                for i, word in enumerate(segment[:-2]):
                    if PYTHON.match(word) and segment[i + 1] == "-m":
                        found.append((segment[i + 2], segment[i + 3:]))
                        break
                segment = []
            else:
                segment.append(token)
    return found


def is_placeholder(argument: str) -> bool:
    value = argument.split("=", 1)[1] if "=" in argument else argument
    return (any(c in argument for c in "<>[]$") or "..." in argument
            or bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", value)))


def shown_commands() -> list[tuple[str, str, list[str]]]:
    """(page, module, arguments) of every command the pages show, duplicates removed."""
    seen, out = set(), []
    for page in PAGES:
        for code in code_texts(page.read_text(encoding="utf-8")):
            for module, args in python_commands(code):
                key = (module, tuple(args))
                if key not in seen:
                    seen.add(key)
                    out.append((str(page.relative_to(ROOT)), module, args))
    return out


COMMANDS = shown_commands()
MODULES = sorted({module for _, module, _ in COMMANDS})


def test_the_command_extractor():
    code = """# 1. a comment: python -m not.this
.venv/bin/python -m agents.train --task metaworld/lever-pull \\
    --out runs/x --set weighting.w_r=100   # trailing comment
X=1 python -m study.run finding1 --preset quick && python -m study.report finding1 --reps 10
cd somewhere; python3 -m pytest -q tests/test_docs.py | tail -1
bash scripts/main.sh
"""
    assert python_commands(code) == [
        ("agents.train", ["--task", "metaworld/lever-pull", "--out", "runs/x", "--set",
                          "weighting.w_r=100"]),
        ("study.run", ["finding1", "--preset", "quick"]),
        ("study.report", ["finding1", "--reps", "10"]),
        ("pytest", ["-q", "tests/test_docs.py"]),
    ]
    assert [a for a in ["STUDY", "--results=DIR", "<task>", "[--json", "F]", "$s", "runs/x",
                        "finding1", "train.device=cuda", "KEY=VALUE"] if is_placeholder(a)] \
        == ["STUDY", "--results=DIR", "<task>", "[--json", "F]", "$s", "KEY=VALUE"]
    # The pages do show the commands this test exists for.
    assert {"study.run", "study.status", "study.report", "agents.train",
            "agents.bench"} <= set(MODULES)


# Runs in one interpreter (one torch import for all commands) and prints one JSON list of
# [ok, detail]: study.run with --dry-run; agents.train through its parse_args (parser and
# config resolution); study.report through its build_parser; study.status and agents.bench
# through their own main() up to the moment their parser has read the arguments (the shared
# Parser stops there), then bench's overrides resolved as it resolves them.
DRIVER = r"""
import contextlib, io, json, sys
from agents.cli import Parser

class Parsed(Exception):
    pass

def parse_only(self, args=None, namespace=None):
    raise Parsed(Parser.real_parse_args(self, args, namespace))

Parser.real_parse_args = Parser.parse_args
checks = json.load(sys.stdin)
results = []
for module, args in checks:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            from study.specs import STUDIES
            if module == "study.run":
                from study.run import main
                code = main(args)
            elif module == "agents.train":
                from agents.train import parse_args
                parse_args(args)
                code = 0
            elif module == "study.report":
                from study.report import build_parser
                parsed = build_parser().parse_args(args)
                code = 0 if parsed.study in STUDIES else f"unknown study {parsed.study!r}"
            elif module in ("study.status", "agents.bench"):
                main = __import__(module, fromlist=["main"]).main
                Parser.parse_args = parse_only
                try:
                    main(args)
                    code = "main() ran past its argument parser"
                except Parsed as done:
                    parsed = done.args[0]
                finally:
                    Parser.parse_args = Parser.real_parse_args
                if module == "study.status":
                    code = 0 if parsed.study in STUDIES else f"unknown study {parsed.study!r}"
                else:
                    from agents.config import make_config
                    make_config("paper", "metaworld/lever-pull", parsed.overrides)
                    code = 0
            else:
                code = f"no argument check for {module}"
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:
        code = f"{type(exc).__name__}: {exc}"
    results.append([code in (0, None), f"{code}: {out.getvalue()[-600:]}"])
print(json.dumps(results))
"""

CHECKED = ("study.run", "agents.train", "study.report", "study.status", "agents.bench")


def child_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    # Commands shown with HD_DISTRACTOR_VIDEOS=... (the paper's Kinetics folder) get a folder
    # holding one small GIF, so their distracted-DMC tasks resolve.
    import imageio.v3 as iio
    import numpy as np

    videos = tmp_path / "videos"
    videos.mkdir(exist_ok=True)
    iio.imwrite(videos / "clip.gif", np.zeros((2, 8, 8, 3), np.uint8), extension=".gif")
    env["HD_DISTRACTOR_VIDEOS"] = str(videos)
    if shutil.which("sbatch") is None:
        # `study.run --executor slurm` wants sbatch on PATH before its dry run prints the grid;
        # this stand-in is never called (a dry run submits nothing) and fails if it is.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        fake = bin_dir / "sbatch"
        fake.write_text("#!/bin/sh\necho 'tests/test_docs.py: sbatch must not run' >&2\nexit 1\n")
        fake.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_shown_commands_parse(tmp_path):
    results_dir = tmp_path / "results"  # dry runs read run states: an empty store
    checks, where = [], []
    for page, module, args in COMMANDS:
        if module not in CHECKED or any(is_placeholder(a) for a in args):
            continue
        args = list(args)
        if module == "study.run":
            if "--dry-run" not in args:
                args.append("--dry-run")
            if not any(a == "--results" or a.startswith("--results=") for a in args):
                args += ["--results", str(results_dir)]
        checks.append([module, args])
        where.append(f"{page}: python -m {module} {shlex.join(args)}")
    assert len(checks) >= 10, checks  # the pages show many; finding few means a broken extractor
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(checks), cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT_S,
                          env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    failed = [f"{w}\n    -> {detail}" for w, (ok, detail) in zip(where, results, strict=True)
              if not ok]
    assert failed == [], "\n".join(failed)


def test_every_shown_module_answers_help(tmp_path):
    env = child_env(tmp_path)

    def help_of(module: str) -> tuple[str, int, str]:
        proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        return module, proc.returncode, (proc.stdout + proc.stderr)[-600:]

    with ThreadPoolExecutor(max_workers=3) as pool:
        failed = [f"python -m {m} --help: exit {rc}\n{tail}"
                  for m, rc, tail in pool.map(help_of, MODULES) if rc != 0]
    assert failed == [], "\n".join(failed)


def test_usage_examples_in_docstrings_keep_their_line_breaks():
    """A module docstring (what --help shows) whose shell example ends a line with a single
    backslash joins it with the next line: Python reads backslash-newline as a continuation."""
    import ast

    odd_backslash_newline = re.compile(r"(?<!\\)(?:\\\\)*\\\n")
    bad = []
    for path in sorted(p for pkg in ("agents", "study", "analyses")
                       for p in (ROOT / pkg).rglob("*.py")):
        source = path.read_text()
        body = ast.parse(source).body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            segment = ast.get_source_segment(source, body[0].value) or ""
            if not segment.lstrip("uU").startswith(("r", "R")) and \
                    odd_backslash_newline.search(segment):
                bad.append(str(path.relative_to(ROOT)))
    assert not bad, f"escape the backslash (\\\\) in these docstrings: {bad}"
