"""train.overlap: acting reads the weights from before the latest update (agents/update/acting.py).

What a GPU run computes is checked here on the CPU, where the same maths runs in order: the
actions are exactly those of a serial agent one update behind, learning is unchanged, the lag
is logged and a resumed run continues as the uninterrupted one. tests/run/test_cuda.py checks the
side stream on a GPU.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from agents.config import make_config
from agents.families import make_agent
from agents.run import checkpoint
from agents.run.loop import Trainer
from agents.run.metrics import floats
from tests.run.test_graphs import agent_and_batch

CASES = [("dreamerv2", "metaworld/lever-pull", 4), ("dreamerv3", "atari/pong", 6)]


def overlapped_twin(agent, task, actions, cfg):
    torch.manual_seed(0)  # the same seed: the same initial weights as agent_and_batch's
    return make_agent(make_config("smoke", task, [f"model.agent={agent}",
                                                  "weighting.name=harmony",
                                                  "train.overlap=true"]), actions,
                      torch.device("cpu"))


def act(learner, images, explore: bool) -> np.ndarray:
    torch.manual_seed(7)
    return learner.act(images, None, explore)[0]


@pytest.mark.parametrize("agent,task,actions", CASES)
def test_overlap_acts_one_update_behind_and_learns_the_same(agent, task, actions):
    cfg, serial, batch = agent_and_batch(agent, task, actions, "harmony")
    overlapped = overlapped_twin(agent, task, actions, cfg)
    assert serial.policy_lag == 0 and overlapped.policy_lag == 0
    images = batch["image"][:3, 0]
    rng = np.random.default_rng(1)
    for i in range(3):
        before = {e: act(serial, images, e) for e in (False, True)}  # weights after i updates
        torch.manual_seed(100 + i)
        a = floats(serial.update(batch))
        torch.manual_seed(100 + i)
        b = floats(overlapped.update(batch))
        assert b == a, i  # learning is untouched: the same losses, update by update
        assert overlapped.policy_lag == 1 and serial.policy_lag == 0
        for explore in (False, True):
            lagged = act(overlapped, images, explore)
            assert np.array_equal(lagged, before[explore]), (i, explore)
        # the serial agent moved on: the weights acting reads are really one update behind
        # (its actions may not show it: one small update can leave an argmax unchanged)
        acting = overlapped.acting["behaviour"].actor.parameters()
        assert any(not torch.equal(p, q)
                   for p, q in zip(acting, serial.behaviour.actor.parameters(), strict=True))
        batch = {k: rng.permutation(v) for k, v in batch.items()}

    overlapped.refresh_acting()  # as before an evaluation: acting reads the latest weights
    assert overlapped.policy_lag == 0
    for explore in (False, True):
        assert np.array_equal(act(overlapped, images, explore), act(serial, images, explore))

    # A checkpoint holds the acting copy and its age: the restored agent acts the same.
    overlapped.update(batch)
    restored = overlapped_twin(agent, task, actions, cfg)
    restored.load_checkpoint_state(overlapped.checkpoint_state())
    assert restored.policy_lag == 1
    assert np.array_equal(act(restored, images, False), act(overlapped, images, False))


@pytest.mark.slow
def test_overlapped_run_logs_its_lag_and_resumes_as_if_never_stopped(tmp_path, monkeypatch):
    """N = 2 envs, overlap on: a run interrupted at a checkpoint after training began and resumed
    logs the same training losses, episodes and evaluations as the run left alone."""
    cfg = make_config("smoke", "dmc/cartpole-swingup", [
        "train.overlap=true", "env.num_envs=2", "train.steps=400", "train.checkpoint_every=100",
        "train.eval_every=1000", "train.threads=1"])  # no evaluation (it refreshes
    # the acting copy) just before the checkpoint
    Trainer(cfg, tmp_path / "ref", progress_bar=False).run()

    save = Trainer.save_checkpoint

    def stop_at_200(self):
        save(self)
        if self.p.step >= 200:  # after the first updates (prefill: 100 frames)
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "save_checkpoint", stop_at_200)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, tmp_path / "cut", progress_bar=False).run()
    monkeypatch.setattr(Trainer, "save_checkpoint", save)
    assert not checkpoint.load(tmp_path / "cut" / "ckpt.pt")["progress"]["done"]
    Trainer(cfg, tmp_path / "cut", progress_bar=False).run()

    ref, cut = (pd.read_json(tmp_path / d / "metrics.jsonl", lines=True) for d in ("ref", "cut"))
    train = ref[ref["split"] == "train"].dropna(subset=["loss_obs"])
    assert len(train) >= 2 and (train["policy_lag"] == 1).all()
    columns = ["split", "step", "loss_obs", "actor_loss", "return", "policy_lag"]
    pd.testing.assert_frame_equal(cut[columns], ref[columns])
