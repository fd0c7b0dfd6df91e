"""DreamerV2's actor distribution against scipy's truncated normal."""

import numpy as np
import pytest
import torch
from scipy import stats

from agents.dreamerv2.truncated_normal import TruncatedNormal

# (loc, scale): the actor's initial std (~1.1; ~1.56 with actor_init_std=2), a confident
# actor, a mean near a bound.
CASES = [(0.0, 1.1), (0.0, 1.56), (0.3, 0.1), (0.95, 0.5), (-0.7, 2.1)]


@pytest.mark.parametrize("loc,scale", CASES)
def test_matches_scipy_truncnorm(loc, scale):
    ref = stats.truncnorm((-1 - loc) / scale, (1 - loc) / scale, loc=loc, scale=scale)
    dist = TruncatedNormal(torch.tensor(loc, dtype=torch.float64),
                           torch.tensor(scale, dtype=torch.float64))
    assert float(dist.mean) == pytest.approx(ref.mean(), abs=1e-9)
    assert float(dist.variance) == pytest.approx(ref.var(), rel=1e-7)
    assert float(dist.entropy()) == pytest.approx(ref.entropy(), abs=1e-9)
    x = torch.linspace(-0.99, 0.99, 7, dtype=torch.float64)
    np.testing.assert_allclose(dist.log_prob(x).numpy(), ref.logpdf(x.numpy()), rtol=1e-9)
    # Samples: inside the bounds, none piled up on them, with scipy's moments.
    torch.manual_seed(0)
    s = dist.rsample((200_000,))
    assert s.min() > -1 and s.max() < 1
    assert float((s.abs() > 0.999).double().mean()) < 0.01
    assert float(s.mean()) == pytest.approx(ref.mean(), abs=0.01)
    assert float(s.var()) == pytest.approx(ref.var(), rel=0.02)
    assert stats.kstest(s[:5000].numpy(), ref.cdf).pvalue > 1e-3


def test_samples_are_reparameterised():
    loc = torch.tensor([0.2, -0.4], requires_grad=True)
    scale = torch.tensor([0.8, 1.5], requires_grad=True)
    torch.manual_seed(0)
    TruncatedNormal(loc, scale).rsample((1000,)).mean().backward()
    assert torch.isfinite(loc.grad).all() and (loc.grad > 0).all()
    assert torch.isfinite(scale.grad).all()


def test_clipped_normal_would_pile_up_on_the_bounds():
    # Why the official code truncates: at the initial std (1.1) 36% of a clipped Normal's
    # samples sit at +-1; a truncated one has none there.
    torch.manual_seed(0)
    clipped = torch.distributions.Normal(0.0, 1.1).sample((100_000,)).clamp(-1, 1)
    assert 0.33 < float((clipped.abs() == 1).float().mean()) < 0.40
    truncated = TruncatedNormal(torch.tensor(0.0), torch.tensor(1.1)).sample((100_000,))
    assert float((truncated.abs() > 0.999).float().mean()) < 0.01
