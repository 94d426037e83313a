"""The fused kernels as torch custom operators, for the graphs ``torch.compile`` and ``torch.export`` trace.

``normact::moments``, ``normact::forward`` and ``normact::backward`` are the three passes of
:class:`FunctionalKernels` on ``(G, M)`` rows, each with a schema and a fake (shape-only)
implementation, and ``forward`` with an autograd formula (``backward`` gives its input and scale
gradients). They run the C++ kernels on CPU tensors and the Triton kernels on CUDA tensors. Eager
calls go to the kernels directly (a custom operator costs some microseconds of dispatch per call);
a traced layer records these operators where its device has the kernels, so compiled graphs run
the fused kernels without graph breaks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import _disable_current_modes

from normact.functional import _fused, _triton
from normact.functional._kernel_api import FunctionalKernels

__all__ = ["OPS", "Ops", "available", "usable"]


def _kernels(x: Tensor, kind: int) -> Any:
    """The eager kernels for x's device; an error that says why where there are none."""
    if x.device.type == "cpu" and "cpu" not in _triton._state["device_types"]:
        kernels = _fused.kernels()
        reason = _fused._state["error"]
    else:
        kernels = _triton.usable(x, kind)
        reason = _triton.status()[1]
    if kernels is None:
        raise RuntimeError(
            f"normact: no fused kernels for {x.dtype} tensors on {x.device} ({reason}); the graph was "
            "traced where they were available"
        )
    return kernels


def _per_row(t: Tensor, x: Tensor) -> Tensor:
    return t.to(torch.float64).reshape(x.shape[0]).contiguous()


@torch.library.custom_op("normact::moments", mutates_args=())
def _moments(x: Tensor, kind: int, p0: float, p1: float, lam: float) -> Tensor:
    return _kernels(x, kind).moments(x, kind, p0, p1, lam)


@_moments.register_fake
def _(x: Tensor, kind: int, p0: float, p1: float, lam: float) -> Tensor:
    return x.new_empty((x.shape[0], 6), dtype=torch.float64)


@torch.library.custom_op("normact::forward", mutates_args=())
def _forward(x: Tensor, scale: Tensor, shift: Tensor, kind: int, p0: float, p1: float, lam: float) -> Tensor:
    kernels = _kernels(x, kind)
    if isinstance(kernels, FunctionalKernels):
        return kernels.forward(x, scale, shift, kind, p0, p1, lam)
    y = torch.empty_like(x)
    kernels.forward(x, y, _per_row(scale, x), _per_row(shift, x), kind, p0, p1, lam)
    return y


@_forward.register_fake
def _(x: Tensor, scale: Tensor, shift: Tensor, kind: int, p0: float, p1: float, lam: float) -> Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("normact::backward", mutates_args=())
def _backward(
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
    kernels = _kernels(x, kind)
    grad = grad.contiguous()
    if isinstance(kernels, FunctionalKernels):
        return kernels.backward(grad, x, scale, shift, kind, p0, p1, lam, dot)
    gx = torch.empty_like(x)
    sums = kernels.backward(grad, x, gx, _per_row(scale, x), _per_row(shift, x), kind, p0, p1, lam, dot)
    return gx, sums


@_backward.register_fake
def _(grad, x, scale, shift, kind, p0, p1, lam, dot) -> tuple[Tensor, Tensor]:
    return torch.empty_like(x), x.new_empty((x.shape[0],), dtype=torch.float64)


def _setup_context(ctx, inputs, output) -> None:
    x, scale, shift, *params = inputs
    ctx.params = params
    ctx.save_for_backward(x, scale, shift)


def _forward_grad(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
    """x: ``scale grad f'(x)``; scale: ``Σ grad (f(x) - shift)``; shift: ``-scale Σ grad`` per row."""
    x, scale, shift = ctx.saved_tensors
    needs_x, needs_scale, needs_shift = ctx.needs_input_grad[:3]
    gx, sums = torch.ops.normact.backward(grad, x, scale, shift, *ctx.params, needs_scale)
    grad_scale = sums.reshape(scale.shape).to(scale.dtype) if needs_scale else None
    grad_shift = None
    if needs_shift:
        grad_shift = (
            -(scale.reshape(-1) * grad.sum(1, dtype=torch.float64)).reshape(shift.shape).to(shift.dtype)
        )
    return gx if needs_x else None, grad_scale, grad_shift, None, None, None, None


_forward.register_autograd(_forward_grad, setup_context=_setup_context)


class Ops(FunctionalKernels):
    """The custom operators, as the kernels a traced layer calls."""

    def moments(self, x: Tensor, kind: int, p0: float, p1: float, lam: float) -> Tensor:
        return torch.ops.normact.moments(x, kind, p0, p1, lam)

    def forward(
        self, x: Tensor, scale: Tensor, shift: Tensor, kind: int, p0: float, p1: float, lam: float
    ) -> Tensor:
        return torch.ops.normact.forward(x, scale, shift, kind, p0, p1, lam)

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
        return torch.ops.normact.backward(grad, x, scale, shift, kind, p0, p1, lam, dot)


OPS = Ops()


@torch.compiler.assume_constant_result
def available(device_type: str, dtype: torch.dtype, kind: int) -> bool:
    """Whether the fused kernels run on ``device_type`` tensors of ``dtype`` (a constant to compilers).

    Builds the CPU kernels or tries the Triton ones if not done yet, outside any tracing mode.
    """
    with _disable_current_modes():
        if device_type == "cpu" and "cpu" not in _triton._state["device_types"]:
            return dtype in _fused._CPU_DTYPES and _fused.kernels() is not None
        probe = torch.empty(0, dtype=dtype, device=device_type)
        return _triton.usable(probe, kind) is not None


def usable(x: Tensor, kind: int) -> Any:
    """The fused kernels for ``x``: the eager ones, or these operators while ``x`` is being traced.

    Under ``torch.func`` transforms (which have no rules for these operators) and where the device
    has no kernels: None, the pure-torch path.
    """
    if not _fused.traced(x):
        return _fused.usable(x, kind)
    if not _fused._state["enabled"] or torch._C._are_functorch_transforms_active():
        return None
    return OPS if available(x.device.type, x.dtype, kind) else None
