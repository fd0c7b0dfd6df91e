"""The recurrent core both agent families share: a layer-normalised GRU cell and one filtering
loop over a batch of sequences.

The families differ only in what they plug in (their RSSMs in agents/dreamerv2/networks.py and
agents/dreamerv3/networks.py): the layers around the cell (ELU, or LayerNorm + SiLU), the gate
layer's bias, the initial state (zeros, or a learned one), and how raw outputs become logits
(as they are, or with unimix). The equivalence tests (tests/algorithm/test_equivalence_v2.py,
_v3.py) check both against the official code through this loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agents.nets.init import DefaultInitLinear
from agents.nets.latent import first_steps
from agents.nets.loop_linear import LoopLinear


class NormGRU(nn.Module):
    """GRU cell: one linear map for all gates, LayerNorm (TF's epsilon, 1e-3) on the gate
    pre-activations, and the update gate biased by -1, as in DreamerV2 and V3.

    bias: the gate layer has a bias (DreamerV2's official cell; V3's has none, a norm follows).
    default_init: the gate layer keeps PyTorch's initialisation under every `model.init`
    (DreamerV2's official cell is built outside its Glorot-initialising layer factory).
    """

    def __init__(self, inp: int, size: int, bias: bool = False, default_init: bool = False):
        super().__init__()
        self.linear = (DefaultInitLinear if default_init else nn.Linear)(inp + size, 3 * size,
                                                                         bias=bias)
        self.norm = nn.LayerNorm(3 * size, eps=1e-3)

    def forward(self, x: torch.Tensor, h: torch.Tensor, linear=None) -> torch.Tensor:
        """linear: what computes the gate pre-activations (a LoopLinear in a loop)."""
        parts = self.norm((linear or self.linear)(torch.cat([x, h], -1)))
        reset, cand, update = parts.chunk(3, -1)
        reset = torch.sigmoid(reset)
        cand = torch.tanh(reset * cand)
        update = torch.sigmoid(update - 1)
        return update * cand + (1 - update) * h


class RecurrentCore(nn.Module):
    """The steps of a recurrent state-space model, over parts a family provides.

    A subclass sets `deter` (the GRU size), `img_in` (a Sequential whose first layer is the
    Linear that takes [stoch, action]), `gru` (a NormGRU) and `post_net` (a Sequential whose
    first layer is the Linear that takes [deter, embed] and whose last is the output Linear),
    and defines `initial`, `sample`, `mode`, `post_logits` (the posterior's raw output as
    logits) and `prior_logits` (the prior's logits from deter).
    """

    deter: int
    img_in: nn.Sequential
    gru: NormGRU

    @property
    def post_net(self) -> nn.Sequential:
        raise NotImplementedError

    def initial(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def post_logits(self, raw: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def recur(self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor):
        """The next deterministic state from the last state and action."""
        return self.gru(self.img_in(torch.cat([stoch, action], -1)), deter)

    def img_step(self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor):
        """Prior step: (h, z, a) -> h', prior logits."""
        deter = self.recur(deter, stoch, action)
        return deter, self.prior_logits(deter)

    def posterior(self, deter: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """The posterior's logits from the new deterministic state and the observation."""
        return self.post_logits(self.post_net(torch.cat([deter, embed], -1)))

    def obs_step(self, deter, stoch, action, embed, sample: bool = True):
        """One filtering step for acting: the recurrence and the posterior (no prior)."""
        deter = self.recur(deter, stoch, action)
        logits = self.posterior(deter, embed)
        stoch = self.sample(logits) if sample else self.mode(logits)
        return deter, stoch.to(deter.dtype)

    def observe(self, embed: torch.Tensor, action: torch.Tensor,
                is_first: torch.Tensor | None = None):
        """Filter a batch of sequences [B, T, ...] from the initial state.

        is_first [B, T] (default: t = 0 only) marks episode starts: there the state is reset
        to the initial state and the action fed to the cell is zeroed, as both official
        codes do (so an episode's first action is never seen).
        Returns deter, stoch (posterior samples), posterior and prior logits, all [B, T, ...].

        The same maths as `obs_step` at every step, arranged for speed: the embedding's share
        of the posterior's first layer, and the prior of every step (a function of its deter
        alone), are computed for all B x T states at once; the loop's linear layers are
        LoopLinears (one weight gradient each, not one per step).
        """
        b, t = embed.shape[:2]
        deter, stoch = self.initial(b, embed.device)
        init_deter, init_stoch = deter, stoch
        first_mask = first_steps(b, t, embed.device) if is_first is None else is_first.float()
        post = self.post_net
        post_first, post_hidden, post_last = post[0], post[1:-1], post[-1]
        embed_part = F.linear(embed, post_first.weight[:, self.deter:], post_first.bias)
        img_in, img_rest = self.img_in[0], self.img_in[1:]
        img_in_loop = LoopLinear(img_in.weight, img_in.bias)
        gru = LoopLinear(self.gru.linear.weight, self.gru.linear.bias)
        post_deter = LoopLinear(post_first.weight[:, :self.deter])
        post_out = LoopLinear(post_last.weight, post_last.bias)
        deters, stochs, posts = [], [], []
        for i in range(t):
            f = first_mask[:, i, None].to(deter.dtype)
            deter = deter * (1 - f) + init_deter * f
            stoch = stoch * (1 - f) + init_stoch.to(stoch.dtype) * f
            x = img_rest(img_in_loop(torch.cat([stoch, action[:, i] * (1 - f)], -1)))
            deter = self.gru(x, deter, linear=gru)
            logits = self.post_logits(post_out(post_hidden(post_deter(deter) + embed_part[:, i])))
            stoch = self.sample(logits).to(deter.dtype)
            deters.append(deter)
            stochs.append(stoch)
            posts.append(logits)
        deter = torch.stack(deters, 1)
        return deter, torch.stack(stochs, 1), torch.stack(posts, 1), self.prior_logits(deter)
