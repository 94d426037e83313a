"""Concatenated ReLU as a module (Exploring Normalization in ResNets with CReLUs, Definition 1)."""

from __future__ import annotations

from torch import Tensor, nn

from normact.functional.crelu import crelu, crelu_derivative

__all__ = ["CReLU"]


class CReLU(nn.Module):
    """``concat([x]+, [-x]+)`` along ``dim``: doubles the channels (``channel_multiplier = 2``).

    The next layer takes twice the channels, so a block keeps its number of filters (section
    "CReLU on ResNets"). ``derivative`` returns, for each output entry, its derivative with respect
    to the input entry it comes from (the output's shape).

    Shape:
        Input ``(*, C, *)`` with ``C`` at ``dim``; output ``(*, 2C, *)``.
    """

    channel_multiplier = 2

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return crelu(input, self.dim)

    def derivative(self, input: Tensor) -> Tensor:
        """``[x > 0, -(x < 0)]`` concatenated along ``dim``."""
        return crelu_derivative(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
