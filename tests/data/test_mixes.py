"""The offline dataset kinds: behaviour mixes, their shares in train and held-out, caching and
run identity (real Meta-world episodes for the collected ones)."""

import numpy as np
import pytest

from agents.config import ConfigError, config_from_dict, identity, make_config
from agents.data import experts, mixes
from study.grid import run_id

SMALL = ["train.mode=offline", "offline.episodes=4", "offline.heldout=2",
         "offline.updates=6", "offline.eval_every=3"]
MIX = ("random:0.1", "noise1000:0.45", "noise300:0.45")


@pytest.mark.parametrize("mix", [MIX, ("random:1",), ("random:0.05", "noise1000:0.3",
                                                      "noise300:0.4", "noise100:0.25"),
                                 ("expert:2", "random:1")])
def test_every_prefix_and_tail_holds_each_share(mix):
    shares = dict(mixes.parse(mix))
    assert sum(shares.values()) == pytest.approx(1.0)
    kinds = mixes.assign(mix, 200)
    for n in range(1, 201):  # every prefix: within one episode of its share
        for b, s in shares.items():
            assert abs(kinds[:n].count(b) - s * n) < 1, (n, b)
    for start in range(0, 200, 7):  # any block, so the held-out tail: within two
        block = kinds[start:start + 8]
        for b, s in shares.items():
            assert abs(block.count(b) - s * len(block)) < 2
    assert mixes.assign(mix, 40) == kinds[:40], "an episode's behaviour depends on n"


def test_the_default_mix_in_40_episodes_with_8_held_out():
    kinds = mixes.assign(MIX, 40)
    assert [kinds.count(b) for b in ("random", "noise1000", "noise300")] == [4, 18, 18]
    tail = kinds[-8:]
    assert tail.count("noise1000") >= 3 and tail.count("noise300") >= 3


@pytest.mark.parametrize("mix,words", [
    ((), "empty"), (("random",), "behaviour:share"), (("walk:1",), "behaviour:share"),
    (("random:0",), "> 0"), (("random:0.5", "random:0.5"), "twice"),
    (("noise-5:1",), "behaviour:share")])
def test_a_bad_mix_is_one_line_before_anything_runs(mix, words):
    with pytest.raises(ValueError, match=words):
        mixes.parse(mix)
    value = ",".join(mix) or ","
    with pytest.raises(ConfigError):
        make_config("smoke", "metaworld/lever-pull",
                    [*SMALL, "offline.data=replay_like", f"offline.mix={value}"])


def test_an_unknown_data_kind_is_refused():
    with pytest.raises(ConfigError, match="offline.data must be one of expert, replay_like"):
        make_config("smoke", "metaworld/lever-pull", [*SMALL, "offline.data=replay"])


def test_behaviours_act_as_named():
    rng = np.random.default_rng(0)

    class Expert:
        def get_action(self, state):
            return np.full(4, 1.0)  # a saturated expert action

    assert np.allclose(mixes.act(Expert(), np.zeros(39), "expert", 4, rng), 1.0)
    random = np.stack([mixes.act(Expert(), np.zeros(39), "random", 4, rng) for _ in range(500)])
    assert random.min() >= -1 and random.max() <= 1 and abs(random.mean()) < 0.05
    assert random.std() == pytest.approx(1 / 3 ** 0.5, rel=0.05)  # uniform on [-1, 1]
    noisy = np.stack([mixes.act(Expert(), np.zeros(39), "noise1000", 4, rng)
                      for _ in range(2000)])
    assert np.mean(np.abs(noisy) == 1) > 0.8  # clipped: nearly bang-bang
    assert noisy.mean() > 0.04  # still drifts the expert's way (expected 0.08)
    assert mixes.noise_std("noise300") == 3.0 and mixes.noise_std("random") is None


def test_run_ids_and_dataset_keys_follow_what_the_data_reads():
    base = make_config("quick", "metaworld/lever-pull", ["train.mode=offline"])
    saved = base.to_dict()
    for key in ("data", "mix"):  # a config.json written before the dataset kinds existed
        del saved["offline"][key]
    assert identity(config_from_dict(saved)) == identity(base), "expert runs lost their ids"
    assert "data" not in identity(base)["offline"] and "mix" not in identity(base)["offline"]
    other_mix = make_config("quick", "metaworld/lever-pull",
                            ["train.mode=offline", "offline.mix=random:1"])
    assert run_id(other_mix) == run_id(base)  # an expert dataset does not read the mix
    assert experts.dataset_key(other_mix) == experts.dataset_key(base)

    def replay(*sets):
        return make_config("quick", "metaworld/lever-pull",
                           ["train.mode=offline", "offline.data=replay_like", *sets])

    assert run_id(replay()) != run_id(base)
    assert experts.dataset_key(replay()) != experts.dataset_key(base)
    assert run_id(replay("offline.mix=random:1")) != run_id(replay())
    assert experts.dataset_key(replay("offline.mix=random:1")) != experts.dataset_key(replay())
    # shares are normalised, so equal mixes written differently are one dataset
    assert experts.dataset_key(replay("offline.mix=random:2,noise1000:9,noise300:9")) == \
        experts.dataset_key(replay())
    # a replay_like dataset does not read noise_pct
    assert run_id(replay("offline.noise_pct=0,20")) == run_id(replay())


def test_a_replay_like_dataset_is_collected_once_and_holds_its_behaviours(tmp_path):
    cfg = make_config("smoke", "metaworld/lever-pull",
                      [*SMALL, "offline.data=replay_like", "offline.mix=random:0.5,expert:0.5"])
    assert experts.behaviours(cfg) == ["random", "expert", "random", "expert"]
    episodes = experts.load_or_collect(cfg, tmp_path, progress=False)
    directory = tmp_path / experts.dataset_key(cfg)
    files = sorted(directory.glob("ep_*.npz"))
    stamps = [f.stat().st_mtime_ns for f in files]
    assert experts.load_or_collect(cfg, tmp_path, progress=False) and \
        [f.stat().st_mtime_ns for f in files] == stamps, "collected twice"
    assert '"data": "replay_like"' in (directory / "settings.json").read_text()
    # the random episodes' actions are uniform, the expert's are its own
    random_actions = np.concatenate([episodes[i]["action"][1:] for i in (0, 2)])
    assert abs(random_actions.mean()) < 0.1 and random_actions.std() > 0.5
    train, heldout = experts.split(cfg, episodes)
    assert len(train) == 2 and len(heldout) == 2
    # one of each behaviour in each part; no held-out episode is also a training one
    assert {experts.behaviours(cfg)[i] for i in (2, 3)} == {"random", "expert"}
    for h in heldout:
        assert not any(np.array_equal(h["image"], t["image"]) for t in train)
    # the expert kind's dataset of the same size is another folder
    expert = make_config("smoke", "metaworld/lever-pull", SMALL)
    assert experts.dataset_key(expert) != experts.dataset_key(cfg)
