"""The SELU family: dSELU, sSELU and lSELU, with an optional trainable ``lam``.

Redefining the Self-Normalization Property: dSELU is SELU's form (eq. 3) with ``lam, alpha`` solved
from eq. 5, sSELU is eq. 9 and lSELU eq. 10; a trainable ``lam`` gets ``sum(grad * y / lam)``
(eq. 41), accumulated in float32 or wider. On CPU the fused kernels of ``_fused`` run the layer,
autograd included, as one C++ operator where they apply (one pass forward, one pass backward that
also gives ``lam``'s gradient). Elsewhere a custom Function that saves only the input runs the
Triton kernels or the custom operators of ``_ops``, or, without them, torch ops; dSELU and sSELU
with a fixed ``lam`` are then aten's ``elu(x, alpha, scale=lam, input_scale=beta)``, whose autograd
also saves only the input.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from normact.functional import _fused, _ops
from normact.functional._kernel_api import FunctionalKernels
from normact.functional._reductions import check_dtype, memory_format, row_dot, rows, unrows

__all__ = ["dselu", "lselu", "selu_family", "sselu"]

_aten = torch.ops.aten


def _unscaled(x: Tensor, kind: str, alpha: float, beta: float, scale: float = 1.0) -> Tensor:
    """``scale * f(x) / lam`` as a fresh tensor."""
    if kind == "lselu":
        return _aten.elu(x, alpha, scale, 1.0).add_(torch.clamp_max(x, 0), alpha=scale * beta)
    return _aten.elu(x, alpha, scale, beta)


def _unscaled_vjp(grad: Tensor, x: Tensor, kind: str, alpha: float, beta: float) -> Tensor:
    """``grad * f'(x) / lam`` as a fresh tensor."""
    if kind == "lselu":
        return _aten.elu_backward(grad, alpha, 1.0, 1.0, False, x).add_(
            torch.where(x > 0, 0.0, grad), alpha=beta
        )
    return _aten.elu_backward(grad, alpha, 1.0, beta, False, x)


def _kernels(x: Tensor, kind: str) -> FunctionalKernels | None:
    """The Triton kernels or the custom operators (traced) for x; the C++ ones run through their operator."""
    kernels = _ops.usable(x, _fused.LSELU if kind == "lselu" else _fused.ELU)
    return kernels if isinstance(kernels, FunctionalKernels) else None


def _kernel(kind: str, alpha: float, beta: float) -> tuple[int, float, float, float]:
    """``(kind, p0, p1, lam)`` of the fused kernels for ``g = f / lam``."""
    if kind == "lselu":
        return (_fused.LSELU, alpha, beta, 1.0)
    return (_fused.ELU, alpha, beta, 1.0)


def _lam64(lam: Tensor | float, x: Tensor) -> Tensor:
    if isinstance(lam, Tensor):
        return lam.detach().to(torch.float64).reshape(1)
    return torch.full((1,), lam, dtype=torch.float64, device=x.device)


class _SELUFamily(torch.autograd.Function):
    """``lam * g(x)``; the backward recomputes ``g`` from the saved input."""

    @staticmethod
    def forward(x: Tensor, lam: Tensor | float, kind: str, alpha: float, beta: float) -> Tensor:
        kernels = _kernels(x, kind)
        if kernels is not None:
            x = x.contiguous(memory_format=memory_format(x))
            zero = torch.zeros(1, dtype=torch.float64, device=x.device)
            params = _kernel(kind, alpha, beta)
            return unrows(kernels.forward(rows(x, 1), _lam64(lam, x), zero, *params), x)
        if isinstance(lam, Tensor):
            return _unscaled(x, kind, alpha, beta).mul_(lam.to(x.dtype))
        return _unscaled(x, kind, alpha, beta, scale=lam)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, lam, ctx.kind, ctx.alpha, ctx.beta = inputs
        ctx.lam = None if isinstance(lam, Tensor) else lam
        ctx.save_for_backward(x, lam if isinstance(lam, Tensor) else None)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, lam_t = ctx.saved_tensors
        lam = ctx.lam if lam_t is None else lam_t.to(x.dtype)
        fmt = memory_format(x)
        x, grad = x.contiguous(memory_format=fmt), grad.contiguous(memory_format=fmt)
        kernels = _kernels(x, ctx.kind)
        if kernels is not None:
            zero = torch.zeros(1, dtype=torch.float64, device=x.device)
            params, dot = _kernel(ctx.kind, ctx.alpha, ctx.beta), ctx.needs_input_grad[1]
            gx, dot = kernels.backward(rows(grad, 1), rows(x, 1), _lam64(lam, x), zero, *params, dot)
            gx = unrows(gx, x)
            grad_lam = dot.reshape(()).to(lam_t.dtype) if ctx.needs_input_grad[1] else None
            return gx if ctx.needs_input_grad[0] else None, grad_lam, None, None, None
        grad_lam = grad_x = None
        if ctx.needs_input_grad[1]:
            g = _unscaled(x, ctx.kind, ctx.alpha, ctx.beta)
            grad_lam = row_dot(grad, g, 1).reshape(()).to(lam_t.dtype)
        if ctx.needs_input_grad[0]:
            grad_x = _unscaled_vjp(grad, x, ctx.kind, ctx.alpha, ctx.beta).mul_(lam)
        return grad_x, grad_lam, None, None, None


# Function.apply binds its arguments to forward's signature on every call; a stored signature spares
# inspect rebuilding it each time.
_SELUFamily.forward.__signature__ = inspect.signature(_SELUFamily.forward)


def selu_family(input: Tensor, kind: str, lam: float | Tensor, alpha: float, beta: float) -> Tensor:
    """``kind`` in {"dselu", "sselu", "lselu"}; a tensor ``lam`` gets a gradient (eq. 41)."""
    if kind not in ("dselu", "sselu", "lselu"):
        raise ValueError(f"unknown SELU family member '{kind}'; choose from ['dselu', 'lselu', 'sselu']")
    check_dtype(input, kind)
    kernels = _fused.eager(input)
    if kernels is not None:  # the whole layer in C++, its autograd included
        lam_t, lam_f = (lam, 0.0) if isinstance(lam, Tensor) else (None, lam)
        return kernels.selu_family(input, lam_t, lam_f, *_kernel(kind, alpha, beta)[:3])
    if isinstance(lam, Tensor) or kind == "lselu" or _kernels(input, kind) is not None:
        return _SELUFamily.apply(input, lam, kind, alpha, beta)
    return _aten.elu(input, alpha, lam, beta)


def dselu(input: Tensor, lam: float | Tensor, alpha: float) -> Tensor:
    """dSELU ``lam * (x if x > 0 else alpha (e^x - 1))`` (SELU's eq. 3 with eq. 5's constants)."""
    return selu_family(input, "dselu", lam, alpha, 1.0)


def sselu(input: Tensor, lam: float | Tensor, alpha: float, beta: float) -> Tensor:
    """sSELU ``lam * (x if x > 0 else alpha (e^(beta x) - 1))`` (Redefining Self-Normalization, eq. 9)."""
    return selu_family(input, "sselu", lam, alpha, beta)


def lselu(input: Tensor, lam: float | Tensor, alpha: float, beta: float) -> Tensor:
    """lSELU ``lam * (x if x > 0 else alpha e^x + beta x - alpha)`` (Redefining Self-Normalization eq. 10)."""
    return selu_family(input, "lselu", lam, alpha, beta)
