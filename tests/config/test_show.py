"""`python -m agents.config show`: every field of the resolved config, its value, whether the
preset or --set changed it, and its doc from schema.py."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

from agents.config import Config, make_config
from agents.config.__main__ import main
from agents.config.show import field_docs, render


def parse(text: str) -> dict[str, tuple[str, bool, str]]:
    """'section.key' -> (value, marked as set, doc) from render()'s tree."""
    out, section = {}, None
    for line in text.splitlines()[1:]:
        if line.endswith(":") and not line.startswith(" "):
            section = line[:-1]
            continue
        m = re.match(r"\s+(\w+)\s+= (.*?) ([* ])\s*(?:# (.*))?$", line + "  ")
        if m:
            out[f"{section}.{m[1]}"] = (m[2].strip(), m[3] == "*", (m[4] or "").strip())
    return out


def test_show_prints_every_field_with_its_value_mark_and_doc(capsys):
    assert main(["show", "--preset", "smoke", "--task", "dmc/walker-walk",
                 "--set", "model.deter=7"]) == 0
    shown = parse(capsys.readouterr().out)
    cfg = make_config("smoke", "dmc/walker-walk", ["model.deter=7"])
    expected = {f"{s.name}.{f.name}" for s in dataclasses.fields(Config)
                if dataclasses.is_dataclass(getattr(cfg, s.name))
                for f in dataclasses.fields(getattr(cfg, s.name))}
    assert set(shown) == expected
    assert shown["model.deter"][:2] == ("7", True)
    assert shown["env.camera"][:2] == ("0", True)  # DMC's camera: set by the task's suite
    assert shown["env.image_size"][:2] == ("64", False)
    assert shown["replay.capacity"][2] == "env steps kept"  # a comment on the field's line
    assert shown["env.num_envs"][2].startswith("Environments stepped together")  # above it


def test_docs_come_from_the_schema_comments():
    docs = field_docs(type(Config().train))
    assert docs["pretrain"].startswith("Updates right after prefill")
    assert "image_size" not in field_docs(type(Config().env))  # no comment: no doc
    assert render(make_config("quick")).startswith("# preset quick")


def test_the_command_line_and_a_bad_preset():
    ok = subprocess.run([sys.executable, "-m", "agents.config", "show", "--preset", "paper"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "pretrain" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "agents.config", "show", "--preset", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown preset" in bad.stderr


def test_train_print_config_prints_it_and_trains_nothing(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "agents.train", "--preset", "smoke", "--out",
                           str(out), "--weighting", "harmony", "--print-config"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    shown = parse(proc.stdout)
    assert shown["weighting.name"][:2] == ("harmony", True)
    assert len(shown) == len(parse(render(make_config("smoke", "metaworld/lever-pull",
                                                      ["weighting.name=harmony"]))))
    assert not out.exists()
