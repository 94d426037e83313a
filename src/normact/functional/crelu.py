"""Concatenated ReLU: ``CReLU(x) = concat([x]+, [-x]+)`` along a dimension.

Shang et al. (2016), as used in "Exploring Normalization in Deep Residual Networks with
Concatenated ReLUs", Definition 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["crelu", "crelu_derivative"]


def crelu(input: Tensor, dim: int = 1) -> Tensor:
    """``concat([x]+, [-x]+)`` along ``dim``: twice as many entries along ``dim`` as the input."""
    return torch.cat((input, input.neg()), dim).relu_()


def crelu_derivative(input: Tensor, dim: int = 1) -> Tensor:
    """Derivative of each output entry with respect to the input entry it comes from.

    The output's shape: ``1`` where ``x > 0`` in the first half, ``-1`` where ``x < 0`` in the second.
    """
    return torch.cat(((input > 0).to(input.dtype), -(input < 0).to(input.dtype)), dim)
