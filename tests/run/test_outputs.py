"""log.outputs: every metrics.jsonl row also goes to TensorBoard and W&B, as `split/metric`
scalars at the row's step; a resumed run shows no row twice; an extra that is not installed is
a one-line error before anything is written; the field leaves a run's identity alone."""

import glob
import json
import struct
import sys

import numpy as np
import pytest

from agents import train as train_module
from agents.config import ConfigError, config_from_dict, identity, make_config
from agents.run.loop import Trainer
from agents.run.outputs import dashboard_tag
from agents.train import train
from study.grid import run_id

DMC = "dmc/cartpole-swingup"  # the fastest env (tests/run/test_train.py)
FAST = ["train.steps=200", "train.checkpoint_every=50", "train.eval_every=50", "train.threads=1"]
OFFLINE = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
           "offline.updates=6", "offline.eval_every=3", "train.threads=1"]


class Killed(Exception):
    """Stands for a kill between a checkpoint and the next (after rows it logged)."""


def jsonl_rows(out):
    return [json.loads(line) for line in open(out / "metrics.jsonl")]


def expected_scalars(out) -> dict[str, dict[int, float]]:
    """{split/metric: {step: value}} from metrics.jsonl, numbers only (None: non-finite)."""
    want: dict[str, dict[int, float]] = {}
    for row in jsonl_rows(out):
        for key, value in row.items():
            if key in ("step", "split") or value is None or isinstance(value, str):
                continue
            steps = want.setdefault(dashboard_tag(row["split"], key), {})
            assert row["step"] not in steps, f"duplicated {row['split']} row at {row['step']}"
            steps[row["step"]] = value
    return want


def tensorboard_scalars(out) -> dict[str, list[tuple[int, float]]]:
    """Every scalar as TensorBoard itself reads the run's tb/ directory (purges applied)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def assert_tensorboard_matches_jsonl(out) -> None:
    want, got = expected_scalars(out), tensorboard_scalars(out)
    assert set(got) == set(want)
    for tag, events in got.items():
        steps = [step for step, _ in events]
        assert len(steps) == len(set(steps)), f"{tag}: duplicated steps {steps}"
        # TensorBoard keeps float32: the JSONL value rounded to it, exactly.
        assert dict(events) == {s: float(np.float32(v)) for s, v in want[tag].items()}, tag


@pytest.mark.slow
def test_tensorboard_gets_every_row_and_a_resumed_run_shows_none_twice(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard", reason="log.outputs=tensorboard needs tensorboard")
    out = tmp_path / "run"
    cfg = make_config("smoke", DMC, [*FAST, "log.outputs=[jsonl,tensorboard]"])
    # The first attempt dies at its evaluation at step 150, after the checkpoint at 100 and
    # after it logged that round's train and episode rows: rows the resumed run redoes.
    evaluate = Trainer._evaluate

    def dies_at_150(self):
        if self.p.step == 150:
            raise Killed
        evaluate(self)

    monkeypatch.setattr(Trainer, "_evaluate", dies_at_150)
    with pytest.raises(Killed):
        train(cfg, out, progress_bar=False)
    assert max(step for step, _ in tensorboard_scalars(out)["episode/return"]) == 150
    monkeypatch.setattr(Trainer, "_evaluate", evaluate)
    train(cfg, out, progress_bar=False)

    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 2  # one per attempt
    assert_tensorboard_matches_jsonl(out)
    got = tensorboard_scalars(out)
    assert [s for s, _ in got["eval/return"]] == [50, 100, 150, 200]
    assert [s for s, _ in got["episode/return"]] == [50, 100, 150, 200]
    assert "loss/obs" in got and "fps/env_steps_total" in got
    groups = {tag.split("/")[0] for tag in got}
    assert groups <= {"loss", "weight", "grad", "actor", "critic", "model", "fps", "usage",
                      "eval", "episode", "train"}, groups
    assert {"grad/optimiser_norm_model", "grad/clipped_share_actor"} <= set(got)
    assert not [tag for tag in got if tag.startswith("train/")]  # every train column grouped


def test_dashboard_groups():
    from agents.run.outputs import dashboard_tag

    assert dashboard_tag("train", "gradnorm_obs") == "grad/shared_layers_norm_obs"  # the probe
    assert dashboard_tag("train", "grad_norm_model") == "grad/optimiser_norm_model"
    assert dashboard_tag("train", "s_rew") == "weight/s_rew"
    assert dashboard_tag("train", "kl_dyn") == "loss/kl_dyn"
    assert dashboard_tag("train", "usage_rss_gb") == "usage/rss_gb"
    assert dashboard_tag("train", "something_new") == "train/something_new"
    assert dashboard_tag("eval", "loss_obs") == "eval/loss_obs"  # other splits keep theirs


@pytest.mark.slow
def test_offline_run_rows_reach_tensorboard_and_resume(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard", reason="log.outputs=tensorboard needs tensorboard")
    import agents.run.offline as offline

    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))
    out = tmp_path / "run"
    cfg = make_config("smoke", "metaworld/lever-pull", [*OFFLINE, "log.outputs=tensorboard"])
    metrics, calls = offline.heldout_metrics, []

    def dies_at_second_evaluation(*args, **kwargs):  # after the train row at update 6
        calls.append(1)
        if len(calls) == 2:
            raise Killed
        return metrics(*args, **kwargs)

    monkeypatch.setattr(offline, "heldout_metrics", dies_at_second_evaluation)
    with pytest.raises(Killed):
        train(cfg, out, progress_bar=False)
    monkeypatch.setattr(offline, "heldout_metrics", metrics)
    train(cfg, out, progress_bar=False)
    assert_tensorboard_matches_jsonl(out)
    got = tensorboard_scalars(out)
    assert [s for s, _ in got["eval/reward_rmse_horizon"]] == [3, 6]
    assert [s for s, _ in got["loss/obs"]] == [3, 6]


def read_wandb_log(path) -> list:
    """The records of a .wandb file: W&B's own transaction log (a LevelDB-style log of 32 KiB
    blocks after a 7-byte header, each record a protobuf `Record`); wandb no longer ships a
    Python reader for it."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, records = open(path, "rb").read(), 32768, []
    assert data[:4] == b":W&B"
    pos, parts = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header: padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 2):  # full, first
            parts = chunk
        elif kind in (3, 4):  # middle, last
            parts += chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(parts)
            records.append(record)
    return records


@pytest.mark.slow
def test_wandb_offline_run_holds_the_config_and_the_rows(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="log.outputs=wandb needs wandb")
    for var in ("WANDB_MODE", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HD_STUDY", "finding1")
    out = tmp_path / "run-a1"
    cfg = make_config("smoke", DMC, [*FAST, "train.steps=100", "log.outputs=[jsonl,wandb]"])
    train(cfg, out, progress_bar=False)

    runs = glob.glob(str(out / "wandb" / "offline-run-*-run-a1"))
    assert len(runs) == 1, "an offline run directory named after the run's id"
    records = read_wandb_log(glob.glob(f"{runs[0]}/run-run-a1.wandb")[0])
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert (run.run_id, run.display_name) == ("run-a1", f"finding1 {DMC} fixed s0")
    assert (run.project, run.run_group) == ("harmonydream-repro", "finding1")
    config = {item.key: json.loads(item.value_json) for item in run.config.update
              if item.key != "_wandb"}
    assert config == json.loads(json.dumps(cfg.to_dict()))  # the resolved config
    # Every JSONL number at its step (W&B keeps doubles: equal, not rounded).
    history: dict[str, dict[int, float]] = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
                     for i in record.history.item}
            for key, value in items.items():
                if not key.startswith("_"):
                    history.setdefault(key, {})[items["_step"]] = value
    assert history == expected_scalars(out)


def test_outputs_parse_like_other_lists_and_leave_identity_alone():
    base = make_config("smoke", DMC, [])
    assert base.log.outputs == ("jsonl",)
    for text in ("[jsonl,tensorboard]", "jsonl,tensorboard", "[jsonl, 'tensorboard']"):
        cfg = make_config("smoke", DMC, [f"log.outputs={text}"])
        assert cfg.log.outputs == ("jsonl", "tensorboard")
        assert identity(cfg) == identity(base) and run_id(cfg) == run_id(base)
    assert "log" not in identity(base)  # a section of execution keys only: not in the id
    saved = base.to_dict()
    del saved["log"]  # a config.json written before the field existed
    assert identity(config_from_dict(saved)) == identity(base)
    again = config_from_dict(json.loads(make_config(
        "smoke", DMC, ["log.outputs=jsonl,tensorboard"]).to_json()))
    assert again.log.outputs == ("jsonl", "tensorboard")


@pytest.mark.parametrize("output,module", [("tensorboard", "tensorboard"),
                                           ("wandb", "wandb")])
def test_an_output_that_is_not_installed_is_one_line_and_writes_nothing(
        tmp_path, monkeypatch, capsys, output, module):
    # Stands for an environment without the extra: `import <module>` fails, as uninstalled.
    monkeypatch.setitem(sys.modules, module, None)
    out = tmp_path / "run"
    argv = ["--task", DMC, "--preset", "smoke", "--out", str(out), "--no-progress",
            "--set", f"log.outputs=[jsonl,{output}]"]
    assert train_module.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"asks for {output}, which is not installed" in err
    assert f"harmonydream-repro[{output}]" in err
    assert not out.exists()


def test_trainer_imports_the_extras_before_writing_anything(tmp_path, monkeypatch):
    # validate() finds the package; a Trainer given a config that passed it still imports the
    # extra before it writes: one ConfigError, no run directory.
    cfg = make_config("smoke", DMC, FAST)
    cfg.log.outputs = ("jsonl", "tensorboard")
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ConfigError, match="tensorboard"):
        Trainer(cfg, tmp_path / "run", progress_bar=False)
    assert not (tmp_path / "run").exists()


def test_an_unknown_output_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_module.main(["--task", DMC, "--preset", "smoke", "--out", str(out),
                              "--set", "log.outputs=[jsonl,tensorbord]"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown log output 'tensorbord'" in err
    assert "did you mean 'tensorboard'" in err and not out.exists()
