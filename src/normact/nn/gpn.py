"""GPN baselines of ANAct: an activation times a constant gain, ``g f(x)`` with ``E[(g f(x))^2] = E[x^2]``.

ANAct appendix A.1, eqs. 25 and 27 (ReLU-GPN, LeakyReLU-GPN; after Lu et al. 2020). The gain is
computed by ``normact.theory.gpn_gain`` for x ~ N(0, 1), not typed in.
"""

from __future__ import annotations

import functools

from torch import Tensor, nn

from normact.functional.activations import elementwise, theory_activation

__all__ = ["GPN", "LReLUGPN", "ReLUGPN"]


@functools.cache
def _gain(name: str, params: tuple[tuple[str, float | str], ...]) -> float:
    from normact.theory import gpn_gain

    return float(gpn_gain(theory_activation(elementwise(name, **dict(params)))))


class GPN(nn.Module):
    """``gain * f(x)`` for the base activation ``base`` (a name of ``normact.functional.elementwise``).

    Example:
        >>> GPN("elu", alpha=1.0).gain
    """

    def __init__(self, base: str = "relu", **params: float) -> None:
        super().__init__()
        self.act = elementwise(base, **params)
        self.gain = _gain(base, tuple(sorted(self.act.params.items())))

    def forward(self, input: Tensor) -> Tensor:
        return self.act(input) * self.gain

    def derivative(self, input: Tensor) -> Tensor:
        """``gain * f'(input)`` elementwise."""
        return self.act.derivative(input) * self.gain

    def extra_repr(self) -> str:
        return f"{self.act!r}, gain={self.gain:.6g}"


class ReLUGPN(GPN):
    """ReLU-GPN ``g ReLU(x)`` with ``g = sqrt(2)`` (ANAct eq. 25 prints 1.4142)."""

    def __init__(self) -> None:
        super().__init__("relu")


class LReLUGPN(GPN):
    """LeakyReLU-GPN ``g LeakyReLU(x)``; for slope 0.01 ``g = sqrt(2 / (1 + 0.01^2))`` (eq. 27: 1.4141)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__("leaky_relu", negative_slope=negative_slope)
