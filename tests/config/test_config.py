"""Presets, overrides and bad input."""

import subprocess
import sys

import pytest

from agents.config import ConfigError, config_from_dict, identity, make_config

# Official DreamerV2-on-Meta-world values (HarmonyDream's wmlib-torch configs).
PAPER_METAWORLD = {
    "env.image_size": 64, "env.action_repeat": 1, "env.episode_length": 500,
    "env.camera": "corner", "train.steps": 255_000, "train.prefill": 5_000,
    "train.eval_offset": 5_000, "train.precision": "auto",
    "train.pretrain": 101, "train.train_every": 5, "replay.batch_size": 50,
    "replay.seq_len": 50, "replay.capacity": 1_000_000, "replay.prioritize_ends": True,
    "model.deter": 1024, "model.hidden": 1024, "model.stoch": 32, "model.classes": 32,
    "model.depth": 48, "model.enc_kernels": (4, 4, 4, 4), "model.dec_kernels": (5, 5, 6, 6),
    "model.mlp_layers": 4, "model.mlp_units": 400, "model.kl_balance": 0.8,
    "model.free_nats": 0.0, "model.lr": 3e-4, "model.eps": 1e-5, "model.clip": 100.0,
    "model.weight_decay": 1e-6, "behaviour.actor_lr": 8e-5, "behaviour.critic_lr": 8e-5,
    "behaviour.actor_entropy": 1e-4, "behaviour.actor_min_std": 0.1,
    "behaviour.target_every": 100, "behaviour.horizon": 15, "behaviour.discount": 0.99,
    "behaviour.lam": 0.95, "train.eval_every": 10_000, "train.eval_episodes": 10,
    "weighting.w_o": 1.0, "weighting.w_r": 1.0, "weighting.w_d": 1.0,
}
# The official dmc_vision values, steps and cadences in frames (its agent steps x 2); the
# equivalence harness (tests/algorithm/test_equivalence_v2.py) checks them against the config
# file itself.
PAPER_DMC = {"env.action_repeat": 2, "train.steps": 1_002_000, "train.eval_offset": 2_000,
             "replay.batch_size": 16,
             "model.deter": 200, "model.hidden": 200, "model.free_nats": 1.0,
             "train.prefill": 2_000, "train.train_every": 10, "train.eval_every": 20_000,
             "model.lr": 3e-4, "behaviour.actor_lr": 8e-5, "behaviour.critic_lr": 8e-5,
             "behaviour.actor_entropy": 1e-4, "train.eval_episodes": 10,
             "replay.prioritize_ends": False, "replay.capacity": 2_000_000}
# Official DreamerV3 atari100k values (HarmonyDream's dreamerv3-jax configs.yaml); steps and
# cadences in frames (agent steps x 4).
PAPER_ATARI_V3 = {
    "env.action_repeat": 4, "env.episode_length": 108_000, "replay.batch_size": 16,
    "replay.seq_len": 64, "replay.prioritize_ends": False, "model.deter": 512,
    "model.hidden": 512, "model.stoch": 32, "model.classes": 32, "model.depth": 32,
    "model.mlp_layers": 2, "model.mlp_units": 512, "model.lr": 1e-4, "model.eps": 1e-8,
    "model.clip": 1000.0, "model.dyn_scale": 0.5, "model.rep_scale": 0.1,
    "model.free_bits": 1.0, "model.unimix": 0.01, "model.bins": 255,
    "behaviour.actor_lr": 3e-5, "behaviour.critic_lr": 3e-5, "behaviour.eps": 1e-5,
    "behaviour.clip": 100.0, "behaviour.actor_entropy": 3e-4, "behaviour.horizon": 15,
    "behaviour.discount": 1 - 1 / 333, "behaviour.lam": 0.95,
    "behaviour.target_fraction": 0.02, "behaviour.target_every": 1,
    "train.steps": 404_000, "train.train_every": 4, "train.eval_every": 20_000,
    "train.eval_episodes": 100, "train.eval_initial": False, "train.precision": "fp32",
}


@pytest.mark.parametrize("key", sorted(PAPER_ATARI_V3))
def test_paper_preset_atari_dreamerv3(key):
    cfg = make_config("paper", "atari/pong", ["model.agent=dreamerv3"])
    assert get(cfg, key) == PAPER_ATARI_V3[key]


def test_atari_needs_dreamerv3():
    with pytest.raises(ConfigError, match="dreamerv3"):
        make_config("paper", "atari/pong")
    with pytest.raises(ConfigError, match="unknown agent"):
        make_config("paper", "atari/pong", ["model.agent=dreamerv4"])


def get(cfg, key):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


@pytest.mark.parametrize("key", sorted(PAPER_METAWORLD))
def test_paper_preset_metaworld(key):
    assert get(make_config("paper", "metaworld/hammer"), key) == PAPER_METAWORLD[key]


@pytest.mark.parametrize("key", sorted(PAPER_DMC))
def test_paper_preset_dmc(key):
    assert get(make_config("paper", "dmc/walker-walk"), key) == PAPER_DMC[key]


def test_overrides_are_typed():
    cfg = make_config("quick", "metaworld/lever-pull",
                      ["model.deter=512", "weighting.w_r=100", "replay.prioritize_ends=false",
                       "model.dec_kernels=5,5,6,6", "weighting.name=harmony"])
    assert cfg.model.deter == 512 and cfg.weighting.w_r == 100.0
    assert cfg.replay.prioritize_ends is False and cfg.model.dec_kernels == (5, 5, 6, 6)
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("overrides, match", [
    (["model.nope=1"], "unknown config key"),
    (["nosection.deter=1"], "unknown config key"),
    (["model.deter=abc"], "bad value"),
    (["model.deter=-5"], "must be > 0"),
    (["weighting.name=magic"], "unknown weighting"),
    (["weighting.w_r=-1"], ">= 0"),
    (["train.precision=fp8"], "precision"),
    (["train.precision=auto", "train.device=cuda", "train.cuda_graphs=true"], "fp32 or bf16"),
    (["train.precision=fp16", "train.device=cuda", "train.cuda_graphs=true"], "fp32 or bf16"),
    (["train.cuda_graphs=maybe"], "bad value"),
    (["model.init=orthogonal"], "model.init must be one of glorot, dreamerv3, trunc_normal, torch"),
    (["env.image_size=32"], "dec_kernels"),
    (["model.deter"], "key=value"),
])
def test_bad_overrides(overrides, match):
    with pytest.raises(ConfigError, match=match):
        make_config("smoke", "metaworld/lever-pull", overrides)


@pytest.mark.parametrize("preset, task", [("huge", "metaworld/lever-pull"),
                                          ("smoke", "metaworld/nope"), ("smoke", "dmc/nope-run"),
                                          ("smoke", "atari/pong"), ("smoke", "lever-pull")])
def test_bad_preset_or_task(preset, task):
    with pytest.raises(ConfigError):
        make_config(preset, task)


@pytest.mark.parametrize("args", [["--set", "model.nope=1"], ["--set", "model.deter=x"],
                                  ["--preset", "huge"], ["--task", "metaworld/nope"],
                                  ["--weighting", "magic"]])
def test_cli_bad_input_exits_2_and_launches_nothing(tmp_path, args):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "agents.train", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not out.exists()


def test_eval_offset_must_sit_inside_one_interval():
    with pytest.raises(ConfigError, match="eval_offset"):
        make_config("smoke", "dmc/cartpole-swingup", ["train.eval_offset=100",
                                                      "train.eval_every=100"])


def test_a_switch_added_later_and_left_off_keeps_a_runs_identity():
    """train.overlap came after finished runs existed: off, a run's identity (and so its run
    id and config check on resume) is what it was before the field existed; on, it differs."""
    cfg = make_config("quick", "dmc/cartpole-swingup", [])
    saved = cfg.to_dict()
    del saved["train"]["overlap"]  # a config.json written before the field existed
    assert identity(config_from_dict(saved)) == identity(cfg)
    assert "overlap" not in identity(cfg)["train"]
    on = make_config("quick", "dmc/cartpole-swingup", ["train.overlap=true"])
    assert identity(on) != identity(cfg) and identity(on)["train"]["overlap"] is True
