"""The loss weightings' registry: every weighting's metadata in one place, without torch.

agents/weighting.py builds each one (its WEIGHTINGS has exactly these names);
`agents.train --help`, the validation, analyses/balance.py, the arena study and the docs'
tables read this registry, and tests check them against it.

`logs` are the metric columns a weighting writes in a world-model update, `*` standing for each
of obs, rew and dyn: loss_* and weight_* always; s_* for a learned log-scale; gradnorm_gru_*
for GradNorm's weighted gradient norms on its layer (the RSSM's GRU); gradnorm_* for an
aggregator's per-loss gradient norms on the shared parameters (encoder and RSSM, every update;
the same columns `train.probe_every` measures for the others), with weight_* its torchjd weights.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightingInfo:
    name: str
    doc: str  # one line
    paper: str = ""  # its reference, "" for Dreamer's own
    params: tuple[str, ...] = ()  # the WeightingConfig fields it reads
    logs: tuple[str, ...] = ("loss_*", "weight_*")
    learns: bool = False  # its weights change during training
    aggregates: bool = False  # combines per-loss gradients on the shared parameters (torchjd)
    # the balance its learned s_i approach (analyses/balance.py): "rectified", "unrectified"
    optimum: str = ""
    # updates its own state outside the world-model optimiser (refuses train.cuda_graphs)
    stateful: bool = False

    @property
    def graphs_ok(self) -> bool:
        """Whether the update can run as a CUDA graph (no host-side state or solver)."""
        return not (self.aggregates or self.stateful)


FIXED = ("w_o", "w_r", "w_d")
LEARNED_LOGS = ("loss_*", "weight_*", "s_*")
AGGREGATED_LOGS = ("loss_*", "weight_*", "gradnorm_*")
AGGREGATOR_PAPERS = {
    "upgrad": ("UPGrad: projects each gradient onto the dual cone of all, then averages",
               "Quinton & Rey, Jacobian Descent for Multi-Objective Optimization, 2024"),
    "mgda": ("MGDA: the minimum-norm point of the gradients' convex hull (Frank-Wolfe)",
             "Sener & Koltun, Multi-Task Learning as Multi-Objective Optimization, NeurIPS 2018"),
    "pcgrad": ("PCGrad: projects each gradient off the others it conflicts with",
               "Yu et al., Gradient Surgery for Multi-Task Learning, NeurIPS 2020"),
    "cagrad": ("CAGrad: the direction maximising the worst task's improvement near the mean",
               "Liu et al., Conflict-Averse Gradient Descent for Multi-task Learning, "
               "NeurIPS 2021"),
    "nash_mtl": ("Nash-MTL: the gradients' Nash bargaining solution",
                 "Navon et al., Multi-Task Learning as a Bargaining Game, ICML 2022"),
    "imtl_g": ("IMTL-G: the combination with equal projections onto every task's gradient",
               "Liu et al., Towards Impartial Multi-task Learning, ICLR 2021"),
    "aligned_mtl": ("Aligned-MTL: aligns the gradients' principal components (condition 1)",
                    "Senushkin et al., Independent Component Alignment for Multi-Task "
                    "Learning, CVPR 2023"),
}

# The modules each aggregator needs beyond torch (the `arena` extra): checked before a run.
REQUIRES = {"upgrad": ("torchjd", "quadprog", "qpsolvers"), "cagrad": ("torchjd", "cvxpy"),
            "nash_mtl": ("torchjd", "cvxpy", "ecos")}

REGISTRY: dict[str, WeightingInfo] = {i.name: i for i in [
    WeightingInfo("fixed", "w_o L_o + w_r L_r + w_d L_d (DreamerV2's 1/1/1 by default)",
                  params=FIXED),
    WeightingInfo("reward_only", "w_o = 0: no observation loss (the paper's Finding 3)",
                  params=("w_r", "w_d")),
    WeightingInfo("observation_only", "fixed weights; the reward head does not shape the "
                  "representation (Finding 3)", params=FIXED),
    WeightingInfo("harmony", "HarmonyDream: L_i / sigma_i + log(1 + sigma_i), sigma_i learned",
                  "Ma et al., HarmonyDream, ICML 2024", logs=LEARNED_LOGS, learns=True,
                  optimum="rectified"),
    WeightingInfo("harmony_unrectified", "HarmonyDream with log(sigma_i): its optimum is "
                  "sigma_i = L_i", "Ma et al., HarmonyDream, ICML 2024", logs=LEARNED_LOGS,
                  learns=True, optimum="unrectified"),
    WeightingInfo("harmony_fixed_dyn", "HarmonyDream on obs and rew only; the dynamics "
                  "weight stays 1", "Ma et al., HarmonyDream, ICML 2024",
                  logs=("loss_*", "weight_*", "s_obs", "s_rew"),
                  learns=True, optimum="rectified"),
    WeightingInfo("uncertainty", "L_i / (2 sigma_i^2) + log sigma_i, sigma_i learned",
                  "Kendall et al., Multi-Task Learning Using Uncertainty to Weigh Losses, "
                  "CVPR 2018", logs=LEARNED_LOGS, learns=True),
    WeightingInfo("gradnorm", "weights trained so each weighted loss's gradient norm on the "
                  "GRU follows its relative training rate",
                  "Chen et al., GradNorm, ICML 2018", params=("gradnorm_alpha", "gradnorm_lr"),
                  logs=("loss_*", "weight_*", "gradnorm_gru_*"), learns=True, stateful=True),
    WeightingInfo("dwa", "weights K softmax(r_i / T), r_i the ratio of a loss's means over the "
                  "last two windows of updates",
                  "Liu et al., End-to-End Multi-Task Learning with Attention, CVPR 2019",
                  params=("dwa_temperature", "dwa_window"), learns=True, stateful=True),
    *[WeightingInfo(name, doc, paper, params=("cagrad_c",) if name == "cagrad" else (),
                    logs=AGGREGATED_LOGS, aggregates=True)
      for name, (doc, paper) in AGGREGATOR_PAPERS.items()],
]}

# The arena (docs/arena.md): DreamerV2's fixed 1/1/1 and HarmonyDream against the balancing
# methods from the multi-task literature (the arena study, agents.bench's arena row).
ARENA = ("fixed", "harmony", "gradnorm", "dwa", *AGGREGATOR_PAPERS)
