"""Bounded activations of "Batch Normalization and Bounded Activation Functions": LeCun tanh.

Tanh and Softsign are torch's (``normact.nn.Tanh`` and ``normact.nn.Softsign`` add ``derivative``).
"""

from __future__ import annotations

from torch import Tensor, nn

from normact.functional.activations import LECUN_TANH_SCALE, elementwise, lecun_tanh

__all__ = ["LeCunTanh"]


class LeCunTanh(nn.Module):
    """LeCun tanh ``1.7159 tanh(2x/3)`` (LeCun et al. 2012; the bounded-activations paper, sec. 7.2).

    Its asymptotes are ``±1.7159`` (``asymptote``), the value the saturation metric divides by.
    """

    asymptote = LECUN_TANH_SCALE

    def forward(self, input: Tensor) -> Tensor:
        return lecun_tanh(input)

    def derivative(self, input: Tensor) -> Tensor:
        """``f'(input)`` elementwise: ``1.7159 (2/3) (1 - tanh^2(2x/3))``."""
        return elementwise("lecun_tanh").derivative(input)
