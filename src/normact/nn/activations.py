"""Plain activations as torch modules that also expose ``derivative(input)``.

Each class subclasses its ``torch.nn`` namesake (same forward, same state dict, ``isinstance``
checks still hold) and adds ``f'(input)`` elementwise, which the probes use for ANAct's
convergence Score (eq. 22). ``Swish`` adds the ``beta`` of Ramachandran et al. (2018).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from normact.functional.activations import elementwise

__all__ = [
    "ELU",
    "GELU",
    "SELU",
    "Identity",
    "LeakyReLU",
    "Mish",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "Softsign",
    "Swish",
    "Tanh",
]


class _Derivative:
    """``derivative`` from ``normact.functional.elementwise(_act, **{p: self.p for p in _params})``."""

    _act: str
    _params: tuple[str, ...] = ()

    def derivative(self, input: Tensor) -> Tensor:
        """``f'(input)`` elementwise."""
        return elementwise(self._act, **{p: getattr(self, p) for p in self._params}).derivative(input)


class Identity(_Derivative, nn.Identity):
    """Identity (no activation), with ``derivative`` = 1."""

    _act = "identity"


class ReLU(_Derivative, nn.ReLU):
    """ReLU with ``derivative``; f'(0) = 0 as in torch's backward."""

    _act = "relu"


class LeakyReLU(_Derivative, nn.LeakyReLU):
    """LeakyReLU with ``derivative`` (ANAct eq. 26 uses ``negative_slope`` 0.01, torch's default)."""

    _act = "leaky_relu"
    _params = ("negative_slope",)


class ELU(_Derivative, nn.ELU):
    """ELU with ``derivative`` (ANAct eq. 28)."""

    _act = "elu"
    _params = ("alpha",)


class SELU(_Derivative, nn.SELU):
    """SELU with ``derivative`` (Klambauer et al. 2017; ANAct eq. 29)."""

    _act = "selu"


class Tanh(_Derivative, nn.Tanh):
    """Tanh with ``derivative`` (ANAct eq. 23; a bounded activation of the Swap-order paper)."""

    _act = "tanh"
    asymptote = 1.0


class Softsign(_Derivative, nn.Softsign):
    """Softsign ``x / (1 + |x|)`` with ``derivative`` (Batch Normalization and Bounded Activations)."""

    _act = "softsign"
    asymptote = 1.0


class Sigmoid(_Derivative, nn.Sigmoid):
    """Sigmoid with ``derivative``."""

    _act = "sigmoid"


class GELU(_Derivative, nn.GELU):
    """GELU with ``derivative`` (exact or tanh-approximated, as torch's ``approximate``)."""

    _act = "gelu"
    _params = ("approximate",)


class Softplus(_Derivative, nn.Softplus):
    """Softplus with ``derivative`` (linear above ``threshold``, as torch's)."""

    _act = "softplus"
    _params = ("beta", "threshold")


class Mish(_Derivative, nn.Mish):
    """Mish ``x tanh(softplus(x))`` with ``derivative``."""

    _act = "mish"


class Swish(_Derivative, nn.SiLU):
    """Swish ``x sigmoid(beta x)`` (Ramachandran et al. 2018; ANAct eq. 30 is ``beta = 1``, torch's SiLU)."""

    _act = "swish"
    _params = ("beta",)

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input) if self.beta == 1.0 else elementwise("swish", beta=self.beta)(input)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"
