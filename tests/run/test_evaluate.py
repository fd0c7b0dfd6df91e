"""python -m agents.evaluate: a checkpoint's evaluation, redone exactly, as a CSV table; bad
input is one line and exit 2, with nothing written."""

import json

import numpy as np
import pandas as pd
import pytest

from agents.config import make_config
from agents.evaluate import main
from agents.run import checkpoint
from agents.train import train

DMC = "dmc/cartpole-swingup"  # the fastest env (tests/run/test_train.py)
FAST = ["train.steps=200", "train.checkpoint_every=50", "train.eval_every=50", "train.threads=1"]


def logged_evals(run) -> dict[int, dict]:
    rows = [json.loads(line) for line in open(run / "metrics.jsonl")]
    return {r["step"]: r for r in rows if r["split"] == "eval"}


def evaluate(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("evaluate") / "run"
    train(make_config("smoke", DMC, FAST), run, progress_bar=False)
    return run


@pytest.mark.slow
def test_evaluate_reproduces_the_logged_eval_rows(finished_run, capsys):
    run = finished_run
    before = {name: (run / name).read_bytes() for name in ("metrics.jsonl", "ckpt.pt")}
    logged = logged_evals(run)

    code, out, err = evaluate(capsys, run)
    assert code == 0, err
    assert out.count("\n") == 1 and ": reproduced" in out and "1 episode from 3" in out
    assert "the 1 episode checked against the row logged at step 200" in out
    table = pd.read_csv(run / "evaluate" / "step_200.csv")
    assert list(table.columns) == ["episode", "seed", "return", "length"]  # DMC: no success
    # The fourth evaluation (at step 200): episode index 3, its reset seed, the same return.
    assert table["episode"].tolist() == [3] and (table["length"] == 50).all()
    from agents.data.episodes import episode_seed

    assert table["seed"].tolist() == [episode_seed(0, 1, 0, 3)]
    summary = json.loads((run / "evaluate" / "step_200.json").read_text())
    assert summary["reproduced"] is True
    assert summary["return"] == logged[200]["return"]
    assert "success" not in summary and "success" not in logged[200]  # DMC has no flag

    # The previous checkpoint (step 150) redoes the evaluation at 150.
    code, out, err = evaluate(capsys, run, "--checkpoint", run / "ckpt.pt.prev",
                              "--out", run / "again")
    assert code == 0, err
    summary = json.loads((run / "again" / "step_150.json").read_text())
    assert summary["reproduced"] is True and summary["return"] == logged[150]["return"]
    # Evaluating leaves the run as it was.
    assert before == {name: (run / name).read_bytes() for name in before}


@pytest.mark.slow
def test_evaluate_more_episodes_keeps_the_runs_own_first(finished_run, capsys):
    code, out, err = evaluate(capsys, finished_run, "--episodes", 3, "--out",
                              finished_run / "three")
    assert code == 0, err
    table = pd.read_csv(finished_run / "three" / "step_200.csv")
    assert table["episode"].tolist() == [3, 4, 5]
    assert table["return"].iloc[0] == logged_evals(finished_run)[200]["return"]
    assert ": reproduced" in out and "3 episodes from 3" in out
    assert "the first 1 of the 3 episodes checked against the row logged at step 200" in out


@pytest.mark.slow
def test_evaluate_video_films_the_first_episode_and_keeps_the_rows(finished_run, capsys):
    import imageio

    from agents.run.videos import video_format

    code, out, err = evaluate(capsys, finished_run, "--video", "--out", finished_run / "filmed")
    assert code == 0, err
    assert ": reproduced" in out  # the videos draw on a forked random state
    summary = json.loads((finished_run / "filmed" / "step_200.json").read_text())
    fmt = video_format()
    assert summary["videos"] == [str(finished_run / "filmed" / "videos" / f"{kind}_00000200.{fmt}")
                                 for kind in ("eval", "open_loop")]
    for path, width in zip(summary["videos"], (128, 384), strict=True):
        frames = imageio.v2.mimread(path, memtest=False)
        assert len(frames) == 26 and frames[0].shape[:2] == (160, width)  # 25 steps + reset


@pytest.mark.slow
def test_evaluate_redoes_a_dreamerv3_evaluation_action_for_action(tmp_path, capsys, monkeypatch):
    """The other family on Atari, sampling its evaluation actions (behaviour.eval_greedy off,
    as DreamerV3 does) in two env workers, three episodes per evaluation (rounds of 2 and 1).
    Pong's early returns hardly depend on the actions, so every sampled action is compared."""
    from agents.dreamerv3.agent import Agent

    acted: list[np.ndarray] = []  # the actions of every evaluation step, in order
    act = Agent.act

    def recording(self, images, state, explore):
        actions, state = act(self, images, state, explore)
        if not explore:
            acted.append(actions.copy())
        return actions, state

    monkeypatch.setattr(Agent, "act", recording)
    run = tmp_path / "v3"
    cfg = make_config("smoke", "atari/pong", [
        "model.agent=dreamerv3", "train.chunk=0", "env.num_envs=2", "env.episode_length=200",
        "train.steps=300", "train.prefill=200", "train.eval_episodes=3", "train.threads=1"])
    assert cfg.behaviour.eval_greedy is False
    train(cfg, run, progress_bar=False)
    [step] = logged_evals(run)  # one round of 2 episodes, then one evaluation: episodes 0-2
    by_trainer, acted[:] = list(acted), []

    code, out, err = evaluate(capsys, run, "--episodes", 4)
    assert code == 0, err
    assert ": reproduced" in out
    table = pd.read_csv(run / "evaluate" / f"step_{step}.csv")
    assert table["episode"].tolist() == [0, 1, 2, 3]
    assert len(acted) > len(by_trainer)  # and a fourth episode after the run's three
    for ours, theirs in zip(acted, by_trainer, strict=False):
        assert np.array_equal(ours, theirs)


def write_run(run, *overrides):
    """A run directory as training leaves it before its first checkpoint."""
    run.mkdir(parents=True)
    (run / "config.json").write_text(make_config("smoke", DMC, [*FAST, *overrides]).to_json())
    (run / "metrics.jsonl").write_text("")


@pytest.mark.parametrize("case,message", [
    ("missing", "no run directory"),
    ("no_config", "holds no run"),
    ("no_checkpoint", "no checkpoint"),
    ("corrupt", "is unreadable"),
    ("not_a_checkpoint", "is not a checkpoint"),
    ("other_run", "belongs to another run"),
    ("unknown_key", "unknown config key 'train.nonsense'"),
    ("bad_episodes", "--episodes"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, case, message):
    run = tmp_path / "run"
    extra = []
    if case == "no_config":
        run.mkdir()
    elif case != "missing":
        write_run(run)
    if case == "corrupt":
        (run / "ckpt.pt").write_bytes(b"\x80\x04 not a checkpoint, torn" * 10)
    if case == "not_a_checkpoint":
        checkpoint.save(run / "ckpt.pt", {"progress": {"updates": 3}})
    if case == "other_run":
        other = make_config("smoke", DMC, [*FAST, "weighting.w_r=100"])
        checkpoint.save(run / "ckpt.pt", {"agent": {}, "progress": {"step": 50},
                                          "config": other.to_dict()})
    if case == "unknown_key":
        (run / "ckpt.pt").write_bytes(b"")
        extra = ["--set", "train.nonsense=1"]
    if case == "bad_episodes":
        extra = ["--episodes", "0"]
    listing = sorted(p.name for p in tmp_path.rglob("*"))
    if case == "bad_episodes":
        with pytest.raises(SystemExit) as exc:
            main([str(run), *extra])
        code, err = exc.value.code, capsys.readouterr().err
    else:
        code, _, err = evaluate(capsys, run, *extra)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == listing  # nothing written


def test_an_offline_run_has_no_policy_to_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    cfg = make_config("smoke", "metaworld/lever-pull", ["train.mode=offline"])
    (run / "config.json").write_text(cfg.to_json())
    code, _, err = evaluate(capsys, run)
    assert code == 2 and err.count("\n") == 1 and "offline world-model run" in err
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]
