"""Metrics and episodes survive damage (issue 25, part 4).

- A resume cuts metrics.jsonl only at a row boundary it has verified: a damaged line in the
  middle (shorter or longer than it was) never makes it fuse two rows or lose one.
- A metrics line that is valid JSON but not a row is skipped by readers, not a traceback.
- An unreadable episode file is named; an expert dataset collects a damaged episode again; an
  online run resumes without a damaged replay episode and says so in one line.
- Every .npz write is atomic, and a temporary file a full disk left is removed on next start.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.data.replay import Replay
from agents.run import checkpoint
from agents.run.logger import MetricsLogger

ROOT = Path(__file__).resolve().parents[2]
DMC = "dmc/cartpole-swingup"


def lines_of(path):
    return Path(path).read_bytes().decode().splitlines(keepends=True)


def is_row(line):
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and isinstance(row.get("step"), int) and "split" in row


# --- metrics.jsonl -------------------------------------------------------------------------

def logged(tmp_path, rows_before=6, rows_after=4):
    """A metrics file with a checkpoint after `rows_before` rows (steps 10, 20, ...) and
    `rows_after` rows a killed run wrote after it. Returns (logger, offset, step)."""
    logger = MetricsLogger(tmp_path / "metrics.jsonl")
    for i in range(rows_before):
        logger.write(10 * (i + 1), "train", {"loss": 0.5 * i, "name_padding": "x" * i})
    offset, step = logger.offset, 10 * rows_before
    for i in range(rows_after):
        logger.write(step + 10 * (i + 1), "episode", {"return": float(i)})
    return logger, offset, step


def damage_line(path, index, replacement):
    lines = lines_of(path)
    lines[index] = replacement
    Path(path).write_bytes("".join(lines).encode())


@pytest.mark.parametrize("damage", ["shorter", "longer", "much longer", "not a row",
                                    "cut newline"])
def test_resume_cuts_metrics_at_a_verified_row_boundary(tmp_path, capsys, damage):
    logger, offset, step = logged(tmp_path)
    original = lines_of(logger.path)
    replacement = {"shorter": "{garbage\n", "longer": "{" + "x" * 25 + "\n",
                   "much longer": "#" * 400 + "\n", "not a row": "[1, 2, 3]\n",
                   "cut newline": original[2].rstrip("\n")}[damage]
    damage_line(logger.path, 2, replacement)
    logger.truncate(offset, step=step)
    logger.write(step + 10, "train", {"loss": 9.0})  # the resumed run's next row
    got = lines_of(logger.path)
    rows = [json.loads(line) for line in got if is_row(line)]
    bad = [line for line in got if not is_row(line)]
    # Every row the checkpoint had seen is kept whole, once; none written after it survives.
    undamaged = [json.loads(line) for i, line in enumerate(original[:6]) if i != 2]
    if damage == "cut newline":  # the damaged line swallowed row 4: both unreadable
        undamaged = [r for r in undamaged if r["step"] != 40]
    assert rows == [*undamaged, {"step": step + 10, "split": "train", "loss": 9.0}]
    assert len(bad) == 1, "only the damaged line itself is not a row"
    assert all(line.endswith("\n") for line in got), "no row fused with another"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and str(logger.path) in err[0]


def test_resume_after_no_damage_cuts_at_the_offset_silently(tmp_path, capsys):
    logger, offset, step = logged(tmp_path)
    before = logger.path.read_bytes()[:offset]
    logger.truncate(offset, step=step)
    assert logger.path.read_bytes() == before
    assert capsys.readouterr().err == ""


def test_resume_never_extends_the_file_past_its_end(tmp_path):
    """A file shortened by damage to less than the checkpoint's offset is not padded."""
    logger, offset, step = logged(tmp_path, rows_after=0)
    damage_line(logger.path, 1, "x\n")
    logger.truncate(offset, step=step)
    assert b"\x00" not in logger.path.read_bytes()
    assert all(is_row(line) for i, line in enumerate(lines_of(logger.path)) if i != 1)


def test_resume_without_a_step_still_cuts_at_a_line_boundary(tmp_path):
    logger, offset, _ = logged(tmp_path)
    damage_line(logger.path, 2, "{g\n")  # the offset now lands inside a later row
    logger.truncate(offset)
    assert all(line.endswith("\n") for line in lines_of(logger.path))
    assert logger.path.stat().st_size <= offset


@pytest.mark.parametrize("line", ["42", "[1, 2]", '"text"', "null", '{"foo": 1}',
                                  '{"step": "x", "split": "train", "a": 1}',
                                  '{"step": 5, "a": 1}'])
def test_a_metrics_line_that_is_json_but_not_a_row_is_skipped(tmp_path, line):
    from analyses.load import read_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "split": "eval", "return": 2.0}\n' + line + "\n"
                    '{"step": 2, "split": "eval", "return": 3.0}\n')
    table = read_metrics(path)
    assert table["step"].tolist() == [1, 2] and table["value"].tolist() == [2.0, 3.0]


# --- episode files -------------------------------------------------------------------------

def episode(n=6, value=0):
    return {"image": np.full((n, 4, 4, 3), value, np.uint8),
            "state": np.zeros((n, 2), np.float32), "action": np.zeros((n, 1), np.float32),
            "reward": np.full(n, value, np.float32), "success": np.zeros(n, np.float32)}


DAMAGES = {"truncated": lambda b: b[: len(b) // 2], "garbage": lambda b: b"\x00junk" * 50,
           "empty": lambda b: b""}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_an_unreadable_episode_file_is_named(tmp_path, damage):
    from agents.data.replay import EpisodeFileError, load_episode

    replay = Replay(tmp_path, 10_000, 5, True, np.random.default_rng(0))
    replay.add(episode())
    path = tmp_path / "ep_000000.npz"
    path.write_bytes(DAMAGES[damage](path.read_bytes()))
    with pytest.raises(EpisodeFileError, match=str(path)) as err:
        load_episode(path)
    assert isinstance(err.value, OSError)  # the command lines' I/O failure: exit 1


def test_an_episode_file_missing_a_key_is_named(tmp_path):
    from agents.data.replay import EpisodeFileError, load_episode

    path = tmp_path / "ep_000000.npz"
    np.savez_compressed(path, image=np.zeros((3, 2, 2, 3), np.uint8))
    with pytest.raises(EpisodeFileError, match=str(path)):
        load_episode(path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_replay_restore_drops_a_damaged_episode_in_one_line(tmp_path, capsys, damage):
    replay = Replay(tmp_path, 10_000, 5, True, np.random.default_rng(0))
    for value in range(3):
        replay.add(episode(value=value))
    path = tmp_path / "ep_000001.npz"
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(DAMAGES[damage](path.read_bytes()))
    again = Replay(tmp_path, 10_000, 5, True, np.random.default_rng(0))
    again.restore(3)
    assert [int(ep["reward"][0]) for ep in again.episodes] == [0, 2]
    assert again.num_saved == 3, "the next episode does not overwrite a kept one"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and str(path) in err[0]
    again.add(episode(value=3))
    assert (tmp_path / "ep_000003.npz").exists()


def enospc_after_half(monkeypatch):
    """np.savez_compressed writes half the file, then the disk is full."""
    original = np.savez_compressed

    def half(file, **arrays):
        original(file, **arrays)
        if hasattr(file, "truncate"):
            file.flush()
            file.truncate(max(file.tell() // 2, 1))
        else:
            Path(file).write_bytes(Path(file).read_bytes()[:50])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez_compressed", half)


def test_a_full_disk_during_an_episode_write_leaves_no_file(tmp_path, monkeypatch):
    replay = Replay(tmp_path, 10_000, 5, True, np.random.default_rng(0))
    replay.add(episode())
    enospc_after_half(monkeypatch)
    with pytest.raises(OSError) as err:
        replay.add(episode())
    assert err.value.errno == errno.ENOSPC and "ep_000001.npz" in str(err.value.filename)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep_000000.npz"]


def test_expert_dataset_recollects_a_damaged_episode_and_cleans_temporaries(tmp_path, capsys):
    from agents.config import make_config
    from agents.data import experts

    cfg = make_config("smoke", "metaworld/lever-pull", [
        "train.mode=offline", "offline.episodes=3", "offline.heldout=1",
        "env.episode_length=20", "replay.seq_len=5", "offline.context=2",
        "behaviour.horizon=3"])
    first = experts.load_or_collect(cfg, tmp_path, progress=False)
    directory = tmp_path / experts.dataset_key(cfg)
    damaged = directory / "ep_000001.npz"
    damaged.write_bytes(damaged.read_bytes()[:200])
    stale = directory / "ep_000002.tmp.npz"  # what a full disk left half-written
    stale.write_bytes(b"PK\x03\x04 half")
    untouched = (directory / "ep_000000.npz").stat().st_mtime_ns
    capsys.readouterr()
    again = experts.load_or_collect(cfg, tmp_path, progress=False)
    for a, b in zip(first, again, strict=True):
        for key in a:
            assert np.array_equal(a[key], b[key]), key
    assert not stale.exists(), "the half-written temporary is removed"
    assert (directory / "ep_000000.npz").stat().st_mtime_ns == untouched, "only one recollected"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and str(damaged) in err[0]


def test_expert_dataset_write_is_atomic_on_a_full_disk(tmp_path, monkeypatch):
    from agents.config import make_config
    from agents.data import experts

    cfg = make_config("smoke", "metaworld/lever-pull", [
        "train.mode=offline", "offline.episodes=2", "offline.heldout=1",
        "env.episode_length=20", "replay.seq_len=5", "offline.context=2",
        "behaviour.horizon=3"])
    enospc_after_half(monkeypatch)
    with pytest.raises(OSError) as err:
        experts.load_or_collect(cfg, tmp_path, progress=False)
    assert err.value.errno == errno.ENOSPC and "ep_000000.npz" in str(err.value.filename)
    directory = tmp_path / experts.dataset_key(cfg)
    assert not list(directory.glob("*.npz")), "no half-written episode or temporary"


# --- end to end: a real run resumed after damage -------------------------------------------

def train_cli(out, steps=200):
    cmd = [sys.executable, "-m", "agents.train", "--task", DMC, "--preset", "smoke", "--out",
           str(out), "--no-progress", "--set", f"train.steps={steps}",
           "--set", "train.threads=1", "--set", "train.checkpoint_every=50",
           "--set", "train.eval_every=50"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = train_cli(out)
    assert proc.returncode == 0, proc.stderr
    return out


def rewound(finished_run, tmp_path):
    """A copy of the finished run whose latest checkpoint is the one at step 150, as if it
    had been killed after that checkpoint (the rows after it are still in metrics.jsonl)."""
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    prev = checkpoint.previous(out / "ckpt.pt")
    assert checkpoint.load(prev)["progress"]["step"] == 150
    os.replace(prev, out / "ckpt.pt")
    (out / "status.json").write_text(json.dumps({"state": "interrupted", "step": 150}))
    return out


def row_keys(path):
    return [(r["step"], r["split"]) for r in map(json.loads, filter(is_row, lines_of(path)))]


@pytest.mark.slow
@pytest.mark.parametrize("replacement", ["{x\n", "{" + "x" * 300 + "\n"])
def test_a_run_resumed_after_a_damaged_metrics_line_fuses_no_rows(finished_run, tmp_path,
                                                                  replacement):
    out = rewound(finished_run, tmp_path)
    expected = row_keys(finished_run / "metrics.jsonl")
    damaged = lines_of(out / "metrics.jsonl")
    lost = json.loads(damaged[3])
    damage_line(out / "metrics.jsonl", 3, replacement)
    proc = train_cli(out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    got = lines_of(out / "metrics.jsonl")
    assert [line for line in got if not is_row(line)] == [replacement]
    expected.remove((lost["step"], lost["split"]))
    assert row_keys(out / "metrics.jsonl") == expected, "rows fused, lost or duplicated"


@pytest.mark.slow
def test_an_online_run_resumes_without_a_damaged_replay_episode(finished_run, tmp_path):
    out = rewound(finished_run, tmp_path)
    damaged = out / "replay" / "ep_000001.npz"
    damaged.write_bytes(damaged.read_bytes()[:300])
    proc = train_cli(out)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and str(damaged) in warnings[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads((out / "status.json").read_text())["state"] == "done"
    assert row_keys(out / "metrics.jsonl") == row_keys(finished_run / "metrics.jsonl")
