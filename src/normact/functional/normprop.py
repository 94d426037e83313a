"""Normalization Propagation (NormProp) and its residual-network variants NormProp2, NormProp3.

"Exploring Normalization in Deep Residual Networks with Concatenated ReLUs", section "Normalization
Propagation in ResNets" (after Arpit et al., 2016):
``NormProp(x) = (ReLU(gamma (W x) / ||W_row|| + beta) - 1/sqrt(2 pi)) / sqrt(1/2 - 1/(2 pi))``;
NormProp2 drops the constant shift and scale (weight normalization); NormProp3 is NormProp2 with
``gamma`` fixed at 1/1.21.
"""

from __future__ import annotations

import math

from torch import Tensor

__all__ = ["NORMPROP_GAMMA", "normalized_weight", "relu_gaussian_moments"]

# gamma of NormProp3, the initial value suggested by Arpit et al. (2016).
NORMPROP_GAMMA = 1 / 1.21


def relu_gaussian_moments() -> tuple[float, float]:
    """Mean ``1/sqrt(2 pi)`` and standard deviation ``sqrt(1/2 - 1/(2 pi))`` of ``ReLU(z)``, z ~ N(0, 1).

    The closed forms behind NormProp's constants (the text's "E[y] = 1/(2 pi)" is a typo).
    """
    return 1 / math.sqrt(2 * math.pi), math.sqrt(0.5 - 0.5 / math.pi)


def normalized_weight(weight: Tensor, gamma: Tensor, eps: float = 1e-12) -> Tensor:
    """``gamma * W / ||W_row||``: each output row (or filter) scaled to norm ``gamma``."""
    norm = weight.flatten(1).norm(dim=1).clamp_min(eps)
    return weight * (gamma / norm).view(-1, *([1] * (weight.dim() - 1)))
