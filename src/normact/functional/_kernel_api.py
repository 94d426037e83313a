"""The interface of the fused kernels that return their outputs (Triton, and the custom operators)."""

from __future__ import annotations

from torch import Tensor


class FunctionalKernels:
    """Fused kernels that return their outputs, on contiguous ``(G, M)`` rows (G: statistics groups).

    The Triton kernels, and the custom operators that stand for the fused kernels in traced graphs.
    ``f = lam g(x)`` is the activation ``kind`` with parameters ``p0, p1, lam`` (see ``_fused``).
    """

    def moments(self, x: Tensor, kind: int, p0: float, p1: float, lam: float) -> Tensor:
        """``(G, 6)`` float64: per row n and the sums of x, x², f, f², f'²."""
        raise NotImplementedError

    def forward(
        self, x: Tensor, scale: Tensor, shift: Tensor, kind: int, p0: float, p1: float, lam: float
    ) -> Tensor:
        """``scale[g] * (f(x) - shift[g])`` in x's dtype; ``scale`` and ``shift`` hold G values."""
        raise NotImplementedError

    def backward(
        self,
        grad: Tensor,
        x: Tensor,
        scale: Tensor,
        shift: Tensor,
        kind: int,
        p0: float,
        p1: float,
        lam: float,
        dot: bool,
    ) -> tuple[Tensor, Tensor]:
        """``scale[g] * grad * f'(x)`` and per row ``Σ grad (f(x) - shift[g])`` in float64 (0 unless dot)."""
        raise NotImplementedError
