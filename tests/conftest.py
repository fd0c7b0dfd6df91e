import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture
def poison_after_checkpoint(monkeypatch):
    """poison_after_checkpoint(trainer) makes the trainer's reward head return NaN once it has
    saved a checkpoint; returns the list of steps at which it saved one."""
    import torch

    def apply(trainer) -> list[int]:
        saved: list[int] = []
        original_save = trainer.save_checkpoint

        def save_and_mark():
            original_save()
            saved.append(trainer.p.step)

        monkeypatch.setattr(trainer, "save_checkpoint", save_and_mark)
        reward_mean = trainer.agent.wm.reward_mean
        monkeypatch.setattr(trainer.agent.wm, "reward_mean",
                            lambda feat: reward_mean(feat) * (torch.nan if saved else 1.0))
        return saved

    return apply
