"""mixup (Zhang et al., 2018), as used with self-normalizing networks in paper 001 (section 5).

One weight lam ~ Beta(alpha, alpha) per batch; each sample is mixed with the sample a random
permutation pairs it with: x~ = lam x_i + (1 - lam) x_perm(i), and the loss mixes the two labels' losses.
Paper 001 uses alpha = 0.7, the default here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.special import betaincinv


def sample_beta(alpha: float, generator: torch.Generator | None = None) -> float:
    """One draw of Beta(alpha, alpha) by inverting its CDF at a uniform drawn from `generator`."""
    if not alpha > 0:
        raise ValueError(
            f"mixup alpha must be > 0, got {alpha!r} (to train without mixup, do not call mixup)"
        )
    u = torch.rand(
        (),
        generator=generator,
        dtype=torch.float64,
        device=generator.device if generator is not None else "cpu",
    )
    return float(betaincinv(alpha, alpha, u.item()))


def mixup(
    x: torch.Tensor, y: torch.Tensor, alpha: float = 0.7, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mix a batch with a permutation of itself.

    Returns (x_mixed, y_a, y_b, lam): x_mixed = lam * x + (1 - lam) * x[perm], y_a = y, y_b = y[perm].
    Train with `mixup_loss(model(x_mixed), y_a, y_b, lam)`.
    """
    lam = sample_beta(alpha, generator)
    device = generator.device if generator is not None else x.device
    perm = torch.randperm(x.shape[0], generator=generator, device=device).to(x.device)
    return torch.lerp(x[perm], x, lam), y, y[perm], lam


def mixup_loss(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float) -> torch.Tensor:
    """lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b), each averaged over the batch."""
    return lam * F.cross_entropy(logits, y_a) + (1.0 - lam) * F.cross_entropy(logits, y_b)
