"""The Dreamer update both families share (`Dreamer`): a world-model step (a weighted sum of
its losses in one backward pass, or an aggregation of their gradients, agents/aggregation.py),
then an actor and a critic step in imagination; the gradient probe; the world-model step
alone for the offline diagnostics.

A family's Agent (agents/dreamerv2, agents/dreamerv3) subclasses `Dreamer`: it builds its
world model `wm` and `behaviour` (actor, critic, slow critic) and calls `make_optimisers`.
`Dreamer` is a `Learner` (agents/update/learner.py: optimisers, precision, checkpoint state)
that acts (`Acting`, agents/update/acting.py).

The update and the acting step never copy to the host: their metrics stay on the device
(agents/run/metrics.py sums them), so on CUDA both can run as CUDA graphs (`train.cuda_graphs`,
agents/update/graphs.py). Eager updates check every loss for NaN/Inf before the optimiser step (one
sync per update); graphed updates leave that check to the metrics' read-back (`Metrics`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from agents.config import ConfigError
from agents.update.acting import Acting, ActingCopy
from agents.update.compiled import compiled
from agents.update.graphs import CapturedStep
from agents.update.learner import Learner, adam, check_finite

__all__ = ["Dreamer"]


class Dreamer(Acting, Learner):
    """One update = a world-model step, then an actor and a critic step in imagination. The
    acting step comes from `Acting` (agents/update/acting.py), the optimisers, precision and
    checkpoint state from `Learner` (agents/update/learner.py)."""

    wm: nn.Module
    behaviour: nn.Module
    # train.compile compiles `behaviour.losses` too (a family whose actor and critic losses
    # would share one compiled backward, freed by the actor's step, says False)
    compile_behaviour = True

    def __init__(self, cfg, action_dim: int, device: torch.device):
        super().__init__(cfg.train.precision, device, cfg.train.cuda_graphs)
        self.cfg, self.action_dim = cfg, action_dim
        self._update_graph: CapturedStep | None = None
        self._wm_graph: CapturedStep | None = None
        self._act_graphs: dict[tuple, CapturedStep] = {}  # one per (N envs, explore)
        self.acting: ActingCopy | None = None  # train.overlap: the weights acting reads
        self.aggregator = None  # torchjd's, built at an aggregating weighting's first update
        self._losses: tuple | None = None  # (world model's, behaviour's), see `loss_functions`

    def load_checkpoint_state(self, state: dict) -> None:
        super().load_checkpoint_state(state)
        # The optimisers' state tensors were replaced: a graph recorded against the old ones
        # must record again.
        self._update_graph, self._wm_graph, self._act_graphs = None, None, {}
        if self.acting is not None and self.acting.stream is not None:
            # the restored acting copy was written on this stream; acting reads it on its own
            self.acting.stream.wait_stream(torch.cuda.current_stream())

    def make_optimisers(self) -> None:
        m, b = self.cfg.model, self.cfg.behaviour
        self.to(self.device)
        g = self.graphs
        if self.wm.weighting.aggregates and self.amp_dtype == torch.float16:
            raise ConfigError("an aggregating weighting needs train.precision fp32 or bf16 "
                              "(auto is fp16 on CUDA, whose gradient scaler it cannot use)")
        own = {id(p) for p in self.wm.weighting.own_parameters()}  # GradNorm's weights
        model = [p for p in self.wm.parameters() if id(p) not in own]
        self.opt = {
            "model": adam(model, m.lr, m.eps, m.weight_decay, g),
            "actor": adam(self.behaviour.actor.parameters(), b.actor_lr, b.eps,
                          b.weight_decay, g),
            "critic": adam(self.behaviour.critic.parameters(), b.critic_lr, b.eps,
                           b.weight_decay, g),
        }
        if self.cfg.train.overlap:
            self.acting = ActingCopy({"wm": self.wm, "behaviour": self.behaviour}, self.device)

    def loss_functions(self) -> tuple:
        """The world model's and the behaviour's loss functions, compiled where
        `train.compile` asks (agents/update/compiled.py; the behaviour's where
        `compile_behaviour`). The gradient probe calls the eager `wm.loss`: its autograd.grad
        inside the loss is not for compiling."""
        if self._losses is None:
            wm, behaviour = self.wm.loss, self.behaviour.losses
            if self.cfg.train.compile:
                wm = compiled(wm)
                behaviour = compiled(behaviour) if self.compile_behaviour else behaviour
            self._losses = (wm, behaviour)
        return self._losses

    def start_states(self, post, data: dict[str, torch.Tensor]):
        """Where imagination starts, from the posterior states of a batch."""
        return post

    def update_world_model(self, data: dict[str, torch.Tensor], step: int = -1):
        """One world-model step; returns its logs (on the device) and the start states."""
        with self.autocast():
            wm_loss, logs, post = self.loss_functions()[0](data)
        if not self.graphs:
            check_finite(logs, wm_loss, step)
        clip = self.cfg.model.clip
        if self.wm.weighting.aggregates:
            logs["grad_norm_model"] = self.aggregated_step(logs, clip)
        else:
            logs["grad_norm_model"] = self.step("model", wm_loss, self.wm.parameters(), clip)
        logs["clipped_model"] = (logs["grad_norm_model"] > clip).float()  # mean: the share
        return logs, self.start_states(post, data)

    def aggregated_step(self, logs: dict, clip: float) -> torch.Tensor:
        """The world-model step of an aggregator (agents/aggregation.py): each loss's gradient
        on the shared parameters (encoder, RSSM) combined by torchjd, each head's from its own
        loss; then clipping and the optimiser step as `step`. Adds the aggregator's logs."""
        from agents.aggregation import aggregated_backward, make_aggregator

        weighting, opt = self.wm.weighting, self.opt["model"]
        shared = [p for m in (self.wm.encoder, self.wm.rssm) for p in m.parameters()]
        ids = {id(p) for p in shared}
        heads = [p for p in self.wm.parameters() if id(p) not in ids and p.requires_grad]
        if self.aggregator is None:
            self.aggregator = make_aggregator(weighting.method, len(weighting.terms),
                                              weighting.cagrad_c)
        opt.zero_grad(set_to_none=True)
        logs.update(aggregated_backward(weighting.terms, shared, heads, self.aggregator))
        weighting.terms = None  # frees the graph's references
        norm = nn.utils.clip_grad_norm_(self.wm.parameters(), clip, foreach=True)
        opt.step()
        return norm.detach()

    def update_behaviour(self, start) -> dict[str, torch.Tensor]:
        """One actor and one critic step on imagined rollouts."""
        b = self.cfg.behaviour
        with self.autocast():
            actor_loss, critic_loss, logs = self.loss_functions()[1](self.wm, start)
        logs["grad_norm_actor"] = self.step("actor", actor_loss,
                                            self.behaviour.actor.parameters(), b.clip)
        logs["grad_norm_critic"] = self.step("critic", critic_loss,
                                             self.behaviour.critic.parameters(), b.clip)
        for name in ("actor", "critic"):
            logs[f"clipped_{name}"] = (logs[f"grad_norm_{name}"] > b.clip).float()
        return logs

    def _update(self, data: dict[str, torch.Tensor], step: int = -1) -> dict:
        logs, start = self.update_world_model(data, step)
        logs.update(self.update_behaviour(start))
        return logs

    def update(self, batch: dict[str, np.ndarray], step: int = -1
               ) -> dict[str, torch.Tensor | float]:
        """One world-model update, then one actor and one critic update in imagination;
        returns the update's metrics, still on the device (see agents/run/metrics.py)."""
        return self.update_tensors(self.to_torch(batch), step)

    def update_tensors(self, data: dict[str, torch.Tensor], step: int = -1
                       ) -> dict[str, torch.Tensor | float]:
        """`update` on a batch already on the device."""
        self.refresh_acting()  # with train.overlap: acting keeps the weights before this update
        probes = self.probe(data) if self._probe_due(self.updates) else {}
        if self.graphs:
            if self._update_graph is None:
                self._update_graph = CapturedStep(self._update)
            logs = self._update_graph(data)
        else:
            logs = self._update(data, step)
        self.finish_update()
        return {**logs, **probes}

    def _probe_due(self, updates: int) -> bool:
        """Every `probe_every` updates, never before the first: an untrained model's gradients
        say nothing about which loss drives the representation while it learns."""
        every = self.cfg.train.probe_every
        return every > 0 and updates > 0 and updates % every == 0

    def probe(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each weighted world-model loss's gradient norm on the shared parameters (encoder
        and RSSM; agents/gradients.py), from a forward pass of its own on the update's batch.
        The random state is restored after it, so a probed run computes what an unprobed one
        does (on CUDA with graphs only the CPU's: a graph's generator is not reset)."""
        if self.wm.weighting.aggregates:
            return {}  # an aggregator's update measures them itself, every update
        shared = [*self.wm.encoder.parameters(), *self.wm.rssm.parameters()]
        devices = [self.device] if self.device.type == "cuda" and not self.graphs else []
        with torch.random.fork_rng(devices=devices), self.autocast():
            self.wm.weighting.probe = shared
            try:
                logs = self.wm.loss(data)[1]
            finally:
                self.wm.weighting.probe = None
        return {k: v.detach() for k, v in logs.items() if k.startswith("gradnorm_")}

    def finish_update(self) -> None:
        """Count the update; the slow critic follows after updates 1, 1 + every, 1 + 2 every,
        ... (the official schedule: its counter is checked before it is incremented)."""
        if self.updates % self.cfg.behaviour.target_every == 0:
            self.behaviour.update_target()  # in place: a graph's view of it stays valid
        self.updates += 1

    def train_world_model(self, data: dict[str, torch.Tensor], step: int = -1
                          ) -> dict[str, torch.Tensor | float]:
        """A world-model step alone (the offline diagnostics; `step` counts them), graphed as
        `update` is."""
        probes = self.probe(data) if step >= 0 and self._probe_due(step) else {}
        if not self.graphs:
            return {**self.update_world_model(data, step)[0], **probes}
        if self._wm_graph is None:
            self._wm_graph = CapturedStep(lambda d: self.update_world_model(d)[0])
        return {**self._wm_graph(data), **probes}
