"""A bad task option is refused before anything runs: by the config, in one line, and by
`agents.train`, with exit 2 and no run directory. Shared by the suites' bad-folder tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agents.config import ConfigError, make_config

ROOT = Path(__file__).resolve().parents[2]


def assert_refused(task: str, message: str, out: Path) -> None:
    """make_config raises a one-line ConfigError matching `message` (a regex), and
    `agents.train --task TASK --out OUT` exits 2 with that line alone and writes nothing."""
    with pytest.raises(ConfigError, match=message) as err:
        make_config("smoke", task)
    assert "\n" not in str(err.value)
    proc = subprocess.run([sys.executable, "-m", "agents.train", "--preset", "smoke", "--task",
                           task, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and re.search(message, proc.stderr)
    assert not out.exists()
