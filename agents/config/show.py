"""The resolved config as a tree: every field with its value and its one-line doc, read from
the comment on or above the field's line in schema.py (the one place the docs live)."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import json
import re
import tokenize

from agents.config.schema import Config


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its doc: the comment at the end of its line, else the comment lines just
    above it (a multi-line comment is cut to its first sentence)."""
    source = inspect.getsource(cls)
    comments: dict[int, str] = {}  # line -> comment text
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.add(tok.start[0])
    docs = {}
    for node in ast.parse(source).body[0].body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        line = node.lineno
        if line in comments:
            docs[node.target.id] = comments[line]
            continue
        block, above = [], line - 1
        while above in comments and above not in code_lines:
            block.insert(0, comments[above])
            above -= 1
        if block:
            docs[node.target.id] = _first_sentence(" ".join(block))
    return docs


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.;])(\s|$)", text)
    return match.group(1) if match else text


def _value(value) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value) if not isinstance(value, str) else value


def render(cfg: Config) -> str:
    """The config as `section:` blocks of `key = value  * # doc` lines; `*` marks a value
    that differs from the schema's default (set by the preset, the task or --set)."""
    default = Config()
    lines = [f"# preset {cfg.preset}; * = not the schema default (set by the preset, the "
             "task's suite or --set)"]
    for section in dataclasses.fields(Config):
        ours = getattr(cfg, section.name)
        if not dataclasses.is_dataclass(ours):
            mark = " *" if ours != getattr(default, section.name) else ""
            lines.append(f"{section.name} = {_value(ours)}{mark}")
            continue
        theirs, docs = getattr(default, section.name), field_docs(type(ours))
        lines.append(f"{section.name}:")
        keys = [f.name for f in dataclasses.fields(ours)]
        width = max(map(len, keys))
        for key in keys:
            value = getattr(ours, key)
            mark = "*" if value != getattr(theirs, key) else " "
            line = f"  {key:<{width}} = {_value(value)} {mark}"
            if docs.get(key):
                line = f"{line:<44} # {docs[key]}"
            lines.append(line.rstrip())
    return "\n".join(lines)


def summary(cfg: Config, out: str) -> str:
    """What a run is, in two lines, printed when it starts: task, agent, weighting, seed and
    preset; its length, batch, model size and precision; where it writes."""
    t, m, r = cfg.train, cfg.model, cfg.replay
    length = (f"offline {cfg.offline.updates} updates on {cfg.offline.data} data"
              if t.mode == "offline" else f"online {t.steps} env steps")
    return (f"{cfg.env.task} | {m.agent} | weighting {cfg.weighting.name} | seed {t.seed} | "
            f"preset {cfg.preset}\n  {length}, batch {r.batch_size}x{r.seq_len}, model "
            f"deter {m.deter} stoch {m.stoch}x{m.classes} depth {m.depth}, {t.precision}, device "
            f"{t.device}; writing to {out}")
