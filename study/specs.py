"""The shipped studies, as data: the one place a study's facts live (its grid, its report
notebook, whether its report is interim, what each preset's numbers are). A study's grid is
tasks x weightings x seeds at one preset. Adding a study: one `Study(...)` entry in STUDIES and
its notebook (docs/layout.md "How to add a study").

Each weighting entry is (label, weighting name, parameters): `w_r` is weighting.w_r, a dotted
key (`offline.data`) any other config field the cell sets. Two studies that need the same run
(same resolved config) share it: run ids are hashes of the config, not of the study.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.config import ARENA_WEIGHTINGS
from agents.envs import ATARI100K

ANALYSIS_TASKS = ("metaworld/lever-pull", "metaworld/handle-pull-side", "metaworld/hammer")

Weighting = tuple[str, str, dict[str, float]]

# What each preset's numbers are, for a report's scale note (a study's `scales` may say more).
SCALES = {
    "smoke": "a smoke-scale run (tiny model, a few dozen updates or a few hundred env "
             "steps): it checks the pipeline end to end and says nothing about the paper's "
             "claims",
    "quick": "the laptop-scale `quick` preset (small model, short runs): directions can show, "
             "magnitudes are not the paper's",
    "gpu": "the `gpu` preset (the small model on one GPU, many more updates than on a laptop): "
           "directions and learned weights can show, magnitudes are not the paper's",
    "paper": "the paper's configuration (`paper` preset)",
}


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    tasks: tuple[str, ...]
    weightings: tuple[Weighting, ...]
    seeds: dict[str, int] = field(default_factory=lambda: {"smoke": 1, "quick": 3, "paper": 5})
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)  # per preset
    preset_tasks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # else `tasks`
    preset_weightings: dict[str, tuple[Weighting, ...]] = field(default_factory=dict)
    # A study preset may resolve its configs from another config preset (dreamer_check's gpu
    # is the paper config on a GPU), and then says in its reports what scale that is.
    config_presets: dict[str, str] = field(default_factory=dict)  # else the same name
    scales: dict[str, str] = field(default_factory=dict)  # else SCALES
    # An online study of hours: its report also shows running and interrupted runs (an
    # interim report; the scale note says how many are unfinished).
    interim: bool = False
    notebook: str = ""  # notebooks/<this>: its report (default: <name>.ipynb)

    @property
    def notebook_file(self) -> str:
        return self.notebook or f"{self.name}.ipynb"

    def scale(self, preset: str) -> str | None:
        """What `preset`'s numbers are in this study's reports."""
        return self.scales.get(preset) or SCALES.get(preset)

    def tasks_for(self, preset: str) -> tuple[str, ...]:
        return self.preset_tasks.get(preset, self.tasks)

    def weightings_for(self, preset: str) -> tuple[Weighting, ...]:
        return self.preset_weightings.get(preset, self.weightings)

    def config_preset(self, preset: str) -> str:
        return self.config_presets.get(preset, preset)


def fixed(w_r: float) -> Weighting:
    return (f"w_r={w_r:g}", "fixed", {"w_o": 1.0, "w_r": float(w_r), "w_d": 1.0})


# Below the paper preset every study runs the offline world-model diagnostics
# (agents/run/offline.py): the online RL loop runs ~6 env steps/s on a 2-core CPU, so the 100K+
# steps a Meta-world success curve needs are a cluster job. Offline, every weighting and seed
# trains a world model on one dataset per task and is scored on held-out
# episodes: the world-model mechanism behind each finding, measurable in minutes.
# quick: 40 episodes per task, 8 held out, 600 fp32 updates at batch
# 8 x 50, evaluated every 200 (docs/results.md has the calibrations). fp32, not bf16 autocast:
# on a CPU without bf16 units (AVX2 only) autocast's convolutions take the slow reference path,
# 11.4 s per update against 1.6 s in fp32 (measured side by side on an AMD EPYC, 2 cores), and
# the results would depend on the machine. HarmonyDream's s_i still barely move in 600
# updates (Adam steps them by <= lr each), so harmony vs DreamerV2 cannot separate at this
# scale: that is the gpu preset's job (>= 10K updates).
OFFLINE = {
    "smoke": {"train.mode": "offline", "offline.episodes": "12", "offline.heldout": "2",
              "offline.updates": "30", "offline.eval_every": "10"},
    "quick": {"train.mode": "offline", "offline.episodes": "40", "offline.heldout": "8",
              "offline.updates": "600", "offline.eval_every": "200", "replay.batch_size": "8"},
    # gpu (one H100; not yet run: no GPU was lent since it was added): 10K updates at batch
    # 16 x 50, long enough for HarmonyDream's s_i to approach their balance (s_obs near
    # log L_obs) where 300-1,500 updates left them within 0.25 of 0 (docs/results.md). At the eager
    # update's ~0.23 s (launch-bound) one run is ~40 min; fitting a study into 30 minutes
    # needs several runs per GPU (--workers K) or the CUDA-graph update of the speed issue.
    "gpu": {"train.mode": "offline", "offline.episodes": "40", "offline.heldout": "8",
            "offline.updates": "10000", "offline.eval_every": "1000"},
}
# smoke probes after updates 10, 20 and 30 (never the untrained model)
OFFLINE["smoke"]["train.probe_every"] = "10"
# The data: replay_like episodes (agents/data/mixes.py, its default mix: random 10%, the expert
# at noise 1000% and 300% 45% each), chosen by the premise study below under the criterion
# written before it ran (docs/results.md, "Choosing the offline data by the premise"). The
# scripted-expert data is the named alternative: `--set offline.data=expert`.
for _preset in OFFLINE.values():
    _preset["offline.data"] = "replay_like"
OFFLINE_TASK = {p: ("metaworld/lever-pull",) for p in OFFLINE}

# premise: the paper's premise (at w_r = 1 the observation loss's gradient dominates the
# reward loss's on the shared encoder and RSSM) measured on each candidate offline dataset,
# before any finding runs on it. Only the premise: 200 updates of the quick model at w_r = 1,
# probed every 10. The criterion that picks the quick preset's data from these, written down
# before they were measured: docs/results.md, "Choosing the offline data by the premise".
# The mixes are shaped like an online DreamerV2 agent's replay on Lever Pull, from the
# paper's setting (5K random prefill steps, then the agent's own exploration) and the
# published DreamerV2 curves (APV, 8 seeds: Lever Pull success 0-2% at every evaluation to
# 145K steps), not from replays of our own online runs (none on Lever Pull at this scale).
PREMISE_DATA = (
    # today's data: the scripted expert at noise 0, 50 and 100%
    ("expert", "fixed", {"offline.data": "expert"}),
    # the replay at the first update: the 5K random prefill steps alone
    ("random", "fixed", {"offline.data": "replay_like", "offline.mix": "random:1"}),
    # the replay at 50K steps: 10% prefill, the rest exploration that never succeeds
    ("replay_50k", "fixed", {"offline.data": "replay_like",
                             "offline.mix": "random:0.1,noise1000:0.45,noise300:0.45"}),
    # the replay at 150K steps: 3% prefill (5% here: 2 of 40 episodes), exploration becoming
    # directed (a quarter at the expert's noise 100%), still about no success
    ("replay_150k", "fixed", {"offline.data": "replay_like",
                              "offline.mix": "random:0.05,noise1000:0.3,noise300:0.4,"
                                             "noise100:0.25"}),
)
PREMISE = {p: {**o, "train.probe_every": "10"} for p, o in OFFLINE.items()}
PREMISE["smoke"]["train.probe_every"] = "5"
PREMISE["quick"].update({"offline.updates": "200", "offline.eval_every": "100"})
PREMISE["paper"] = {**OFFLINE["gpu"], "train.probe_every": "10", "offline.updates": "1000",
                    "offline.eval_every": "500"}
OFFLINE_TASKS = {p: ("metaworld/lever-pull", "metaworld/hammer") for p in OFFLINE}

DREAMER = ("dreamerv2", "fixed", {"w_o": 1.0, "w_r": 1.0, "w_d": 1.0})

# dreamer_check: our DreamerV2 against the published per-seed curves (analyses/check.py).
# The paper preset evaluates Meta-world where the official script (and the APV reference) does
# (5K, 15K, ...). quick is one smaller
# model (the quick preset's) on cartpole-swingup to the first reference bin (30K frames):
# a CPU background job of a few hours, labelled as a smaller model in the report.
CHECK_TASKS = ("dmc/cartpole-swingup", "dmc/walker-walk", "dmc/cheetah-run", "dmc/reacher-easy",
               "metaworld/drawer-open", "metaworld/handle-pull-side", "metaworld/lever-pull")
# gpu (issue 13's GPU check) is the paper config of each task on one GPU, cut at 100K frames:
# cartpole-swingup and walker-walk, 3 seeds, bf16 autocast, CUDA graphs. Sized before any GPU
# figure existed (none was lent yet): env.num_envs and --workers are guesses for an H100
# (16 cores: 6 runs x 2 env workers); revise them from `agents.bench --rows loop concurrent`.
# Training-episode returns decide the DMC verdicts, so evaluation is sparse (5 episodes at
# 2K and 52K frames, the paper preset's offset) to keep the GPU on training.
CHECK = {"paper": {},
         "quick": {"train.steps": "30000", "train.eval_every": "10000",
                   "train.checkpoint_every": "2000", "env.num_envs": "2"},
         "gpu": {"train.steps": "100000", "train.device": "cuda",
                 "train.precision": "bf16", "train.cuda_graphs": "true", "env.num_envs": "2",
                 "train.eval_every": "50000",
                 "train.eval_episodes": "5",
                 "train.checkpoint_every": "5000"}}  # calls stop every ~8 min: lose little
HARMONY = ("harmony", "harmony", {})

# atari100k: DreamerV3 vs DreamerV3 + HarmonyDream on the real ALE. paper is the official
# atari100k config (agents.config PAPER_V3, PAPER_ATARI): 26 games x 2 x 5 seeds, 101K
# agent steps and 101K updates per run, a SLURM job each. The laptop scales are labelled
# reduced: quick is the small quick model at batch 8 x 32, evaluated at 5K agent steps (20K
# frames, the references' first checkpoint; the run goes one 100-step chunk past it, as the
# official 101K runs go past their last evaluation at 100K) with one update per 10 agent steps
# (about 460 updates after a 2K-frame prefill, at 2-4 s each on one core measured beside other
# jobs: 20-35 min per run);
# smoke checks the pipeline in under a minute per run.
ATARI = {"smoke": {"model.agent": "dreamerv3"},
         "quick": {"model.agent": "dreamerv3", "replay.batch_size": "8", "replay.seq_len": "32",
                   "train.steps": "20400", "train.prefill": "2000", "train.pretrain": "10",
                   "train.train_every": "40", "train.eval_every": "10000",
                   "train.eval_episodes": "5", "train.log_every": "2000",
                   "train.checkpoint_every": "4000"},
         "gpu": {"model.agent": "dreamerv3"}, "paper": {"model.agent": "dreamerv3"}}
DREAMERV3 = ("dreamerv3", "fixed", {"w_o": 1.0, "w_r": 1.0, "w_d": 1.0})

# distracted: DreamerV2 vs HarmonyDream on DMC whose backgrounds play videos
# (agents/envs/distracted.py), and on DMC Remastered's randomised visuals (below). paper is the
# paper's protocol: Kinetics-400 driving_car videos (bg=video, from $HD_DISTRACTOR_VIDEOS), the
# official dmc_natural_background config. Below it the default
# synthetic moving-shape videos stand in for them, online RL: smoke checks the pipeline; quick
# is the quick model on walker-walk to 30K frames, a CPU background job of hours (as
# dreamer_check's quick), labelled as a stand-in in the report.
DISTRACTED_TASKS = tuple(f"dmc_distracted/{t}" for t in ("walker-walk", "cheetah-run",
                                                         "cartpole-swingup"))
DISTRACTED_VIDEO = tuple(f"{t}?bg=video" for t in DISTRACTED_TASKS)
# DMC Remastered (agents/envs/remastered.py), in the paper's main results: the tasks the
# official code names (its dmc_remastered config's walker-walk, its README's cheetah-run; the
# paper's full DMCR task list is not in our sources). Without a textures= folder, colours stand
# in for DMCR's images and the reports say so.
REMASTERED_TASKS = ("dmc_remastered/walker-walk", "dmc_remastered/cheetah-run")
DISTRACTED = {"smoke": {}, "gpu": {},
              "quick": {"train.steps": "30000", "train.eval_every": "10000",
                        "train.checkpoint_every": "2000", "env.num_envs": "2"},
              "paper": {}}

# crafter: DreamerV3 vs DreamerV3 + HarmonyDream on Crafter, the open-world stand-in for the
# paper's Minecraft (agents/envs/crafter.py). paper is the official dreamerv3-jax crafter config
# (agents/config/presets.py PAPER_CRAFTER: the XL model, 1.01M steps, fp16 on a GPU). quick
# is the small quick model at batch 8 x 32 to 10K steps, one update per 20 (about 450
# updates), evaluated after the prefill, at 5K and 10K: tens of minutes per run on a CPU, far
# from the 1M steps at which Crafter scores are reported, and labelled so.
CRAFTER = {"smoke": {"model.agent": "dreamerv3"},
           "quick": {"model.agent": "dreamerv3", "replay.batch_size": "8",
                     "replay.seq_len": "32", "train.steps": "10100", "train.prefill": "1100",
                     "train.pretrain": "10", "train.train_every": "20",
                     "train.eval_every": "5000", "train.eval_episodes": "5",
                     "train.log_every": "1000", "train.checkpoint_every": "2000"},
           "gpu": {"model.agent": "dreamerv3"}, "paper": {"model.agent": "dreamerv3"}}

# arena: every loss-balancing method (docs/arena.md) against DreamerV2 (fixed 1/1/1) and
# HarmonyDream. paper: online, the paper's Meta-world tasks (the harmony study's), a cluster
# job. quick is a reduced scale, labelled so in its report: 11 methods whose updates cost 1-5x
# the plain one (agents.bench --rows arena) do not fit the finding studies' quick (600 updates,
# 3 seeds) on 2 cores, so it is one task, 2 seeds, 40 updates at batch 4 x 50 on 16 episodes
# (4 held out) of the same replay-like data (docs/arena.md has its measured wall time). At
# this scale the methods' weights move (DWA's windows are shrunk to 10 updates to match) but
# held-out errors barely separate: the quick table proves the comparison runs, not who wins.
ARENA_METHODS = tuple(DREAMER if n == "fixed" else HARMONY if n == "harmony" else (n, n, {})
                      for n in ARENA_WEIGHTINGS)
ARENA_TASKS = ANALYSIS_TASKS + ("metaworld/drawer-open", "metaworld/door-open",
                                "metaworld/sweep-into")
ARENA = {"smoke": OFFLINE["smoke"],
         "quick": {**OFFLINE["quick"], "offline.episodes": "16", "offline.heldout": "4",
                   "offline.updates": "40", "offline.eval_every": "20",
                   "replay.batch_size": "4", "weighting.dwa_window": "10"},
         "gpu": OFFLINE["gpu"], "paper": {}}
ARENA_QUICK_SCALE = ("a reduced `quick` scale for the arena (study/specs.py ARENA): one "
                     "Meta-world task, 2 seeds, 40 world-model updates at batch 4 x 50 on 16 "
                     "replay-like episodes: it shows the comparison runs and how each method "
                     "weights the losses early on, not which method wins")

STUDIES = {s.name: s for s in [
    Study("finding1", "Finding 1: raising the reward-loss weight w_r changes sample efficiency "
          "(below paper scale: how it changes the world model's held-out reward prediction)",
          ANALYSIS_TASKS, tuple(fixed(w) for w in (1, 10, 100, 1000)),
          overrides=OFFLINE, preset_tasks=OFFLINE_TASK,
          # quick is the main command, which must fit an idle 2-core hour: the comparison
          # the verdict reads (w_r = 1 vs 100), 3 seeds, 6 runs of about 14 minutes per pair
          preset_weightings={"quick": (fixed(1), fixed(100))}),
    Study("finding2", "Finding 2: w_r = 1 vs 100 world models for the state probe and the "
          "reward-prediction filmstrip. At paper scale these are finding1's agents; at smoke "
          "and quick scale, offline world models trained on the same dataset",
          ("metaworld/lever-pull",), (fixed(1), fixed(100)), overrides=OFFLINE),
    Study("finding3", "Finding 3: reward-only and observation-only world models vs Dreamer "
          "and HarmonyDream", ANALYSIS_TASKS,
          (("reward_only", "reward_only", {}), ("observation_only", "observation_only", {}),
           DREAMER, HARMONY), overrides=OFFLINE, preset_tasks=OFFLINE_TASK),
    Study("harmony", "DreamerV2 vs HarmonyDream on Meta-world, DMC vision and (paper) DMC "
          "with Kinetics video backgrounds",
          (*ANALYSIS_TASKS, "metaworld/drawer-open", "metaworld/door-open",
           "metaworld/sweep-into", "dmc/cartpole-swingup", "dmc/walker-walk",
           "dmc/cheetah-run", *DISTRACTED_VIDEO), (DREAMER, HARMONY),
          overrides=OFFLINE, preset_tasks=OFFLINE_TASKS),
    Study("premise", "The paper's premise on each candidate offline dataset: at w_r = 1 the "
          "observation loss's gradient on the shared layers dominates the reward loss's. "
          "Measured before the findings run on the data it picks", ("metaworld/lever-pull",),
          PREMISE_DATA, overrides=PREMISE),
    Study("dreamer_check", "Our DreamerV2 (fixed 1/1/1) against published DreamerV2 curves "
          "(DMC: danijar/dreamerv2; Meta-world: APV with the paper's protocol)", CHECK_TASKS,
          (DREAMER,), seeds={"smoke": 1, "quick": 1, "gpu": 3, "paper": 5}, overrides=CHECK,
          preset_tasks={"smoke": ("dmc/cartpole-swingup",),
                        "quick": ("dmc/cartpole-swingup",),
                        "gpu": ("dmc/cartpole-swingup", "dmc/walker-walk")},
          config_presets={"gpu": "paper"},
          scales={"gpu": "the paper's DreamerV2 config on one GPU (bf16 autocast, CUDA graphs), "
                         "3 seeds, cut at 100K frames: the 100K checkpoint is its only verdict"},
          interim=True),
    Study("atari100k", "Atari 100K: DreamerV3 vs DreamerV3 + HarmonyDream, the paper's "
          "headline, against the official per-game scores", tuple(f"atari/{g}" for g in ATARI100K),
          (DREAMERV3, HARMONY), seeds={"smoke": 1, "quick": 1, "paper": 5}, overrides=ATARI,
          preset_tasks={"smoke": ("atari/pong",), "quick": ("atari/pong", "atari/boxing")},
          interim=True),
    Study("distracted", "DreamerV2 vs HarmonyDream on DMC with distractors: video backgrounds "
          "(paper: Kinetics driving_car; below it: synthetic moving shapes, a stand-in) and DMC "
          "Remastered's randomised visuals",
          DISTRACTED_VIDEO + REMASTERED_TASKS, (DREAMER, HARMONY),
          seeds={"smoke": 1, "quick": 1, "gpu": 3, "paper": 5},
          overrides=DISTRACTED,
          preset_tasks={"smoke": ("dmc_distracted/cartpole-swingup",
                                  "dmc_remastered/cartpole-swingup"),
                        "quick": ("dmc_distracted/walker-walk", "dmc_remastered/walker-walk"),
                        "gpu": DISTRACTED_TASKS + REMASTERED_TASKS},
          interim=True),
    Study("crafter", "Crafter (the open-world stand-in for the paper's Minecraft): DreamerV3 vs "
          "DreamerV3 + HarmonyDream, achievement success rates and the Crafter score",
          ("crafter/reward",), (DREAMERV3, HARMONY), seeds={"smoke": 1, "quick": 1, "gpu": 3,
                                                           "paper": 5},
          overrides=CRAFTER),
    Study("ablations", "HarmonyDream ablations: unrectified, dynamics weight fixed, "
          "uncertainty weighting, hand-tuned w_r = 100", ANALYSIS_TASKS,
          (HARMONY, ("harmony_unrectified", "harmony_unrectified", {}),
           ("harmony_fixed_dyn", "harmony_fixed_dyn", {}), ("uncertainty", "uncertainty", {}),
           fixed(100)), overrides=OFFLINE, preset_tasks=OFFLINE_TASK),
    Study("arena", "The loss-balancing arena: GradNorm, DWA and the torchjd gradient "
          "aggregators (UPGrad, MGDA, PCGrad, CAGrad, Nash-MTL, IMTL-G, Aligned-MTL) against "
          "DreamerV2 (fixed 1/1/1) and HarmonyDream", ARENA_TASKS, ARENA_METHODS,
          seeds={"smoke": 1, "quick": 2, "gpu": 3, "paper": 5}, overrides=ARENA,
          preset_tasks={p: ("metaworld/lever-pull",) for p in ("smoke", "quick", "gpu")},
          scales={"quick": ARENA_QUICK_SCALE}),
]}
