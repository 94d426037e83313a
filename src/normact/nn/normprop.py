"""NormProp layers for Linear and Conv2d: variants 1 (NormProp), 2 (NormProp2) and 3 (NormProp3).

"Exploring Normalization in Deep Residual Networks with Concatenated ReLUs", section
"Normalization Propagation in ResNets" (after Arpit et al., 2016), with ``z = gamma (W x) / ||W_row||
+ beta`` per output row or filter:

* variant 1: ``(act(z) - 1/sqrt(2 pi)) / sqrt(1/2 - 1/(2 pi))`` (zero mean, unit variance for z ~ N(0, 1));
* variant 2: ``act(z)`` (weight normalization);
* variant 3: variant 2 with ``gamma`` fixed at 1/1.21 (a buffer, not a parameter).

``act`` is ReLU (the paper's formula), CReLU (its CReLU models; doubles the outputs) or None (a
layer that feeds a residual addition).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normact.functional.crelu import crelu
from normact.functional.normprop import NORMPROP_GAMMA, normalized_weight, relu_gaussian_moments

__all__ = ["NormPropConv2d", "NormPropLinear"]

_ACTS = ("relu", "crelu", None)


class _NormProp:
    """The part NormPropLinear and NormPropConv2d share: gamma, the activation and its constants."""

    weight: nn.Parameter
    bias: nn.Parameter | None
    gamma: Tensor
    _act_dim: int

    def _setup(self, variant: int, act: str | None, out_features: int, factory: dict) -> None:
        if variant not in (1, 2, 3):
            raise ValueError(f"NormProp variant must be 1, 2 or 3 (got {variant!r})")
        if act not in _ACTS:
            raise ValueError(f"NormProp act must be one of {list(_ACTS)} (got {act!r})")
        self.variant, self.act = variant, act
        gamma = torch.empty(out_features, **factory)
        if variant == 3:
            self.register_buffer("gamma", gamma)
        else:
            self.gamma = nn.Parameter(gamma)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights as torch's layer, ``gamma = 1/1.21`` (Arpit et al.'s initial value), ``beta = 0``."""
        super().reset_parameters()
        if hasattr(self, "gamma"):
            with torch.no_grad():
                self.gamma.fill_(NORMPROP_GAMMA)
                if self.bias is not None:
                    self.bias.zero_()

    def _weight(self) -> Tensor:
        return normalized_weight(self.weight, self.gamma)

    def _activate(self, z: Tensor) -> Tensor:
        if self.act is None:
            return z
        y = torch.relu(z) if self.act == "relu" else crelu(z, self._act_dim)
        if self.variant == 1:
            mean, std = relu_gaussian_moments()
            y = (y - mean) / std
        return y

    def _extra(self) -> str:
        return f", variant={self.variant}, act={self.act}"


class NormPropLinear(_NormProp, nn.Linear):
    """Linear layer with NormProp (``variant`` 1, 2 or 3) and its activation.

    Shape:
        ``(*, in_features)`` -> ``(*, out_features)``, ``(*, 2 out_features)`` with CReLU.
    """

    _act_dim = -1

    def __init__(
        self,
        in_features: int,
        out_features: int,
        variant: int = 1,
        act: str | None = "relu",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias, device, dtype)
        self._setup(variant, act, out_features, {"device": device, "dtype": dtype})

    def forward(self, input: Tensor) -> Tensor:
        return self._activate(F.linear(input, self._weight(), self.bias))

    def extra_repr(self) -> str:
        return super().extra_repr() + self._extra()


class NormPropConv2d(_NormProp, nn.Conv2d):
    """Conv2d layer with NormProp (``variant`` 1, 2 or 3) and its activation; filters normalized.

    Takes ``nn.Conv2d``'s arguments after ``kernel_size`` as keywords.

    Shape:
        ``(N, C_in, H, W)`` -> ``(N, C_out, H', W')``, ``(N, 2 C_out, H', W')`` with CReLU.
    """

    _act_dim = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        variant: int = 1,
        act: str | None = "relu",
        **conv_kwargs: object,
    ) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, **conv_kwargs)
        factory = {"device": self.weight.device, "dtype": self.weight.dtype}
        self._setup(variant, act, out_channels, factory)

    def forward(self, input: Tensor) -> Tensor:
        return self._activate(self._conv_forward(input, self._weight(), self.bias))

    def extra_repr(self) -> str:
        return super().extra_repr() + self._extra()
