"""ANAct normalized activations: ``(lam + b tanh(alpha)) * (f(x) - mu)`` from batch statistics.

ANAct: Adaptive Normalization for Activation Functions, eqs. 13, 15-18 and 31-32, read as
per-layer scalar statistics over every element of the batch, ``mu = mean f(x)``,
``rho = Var[f(x)] / Var[x]`` and ``rho' = mean f'(x)^2``; ``lam = sqrt((rho + rho') / (2 rho rho'))``.
The statistics are constants for autograd. The custom Function saves only the input and recomputes
f and f' in the backward pass. On CPU the fused kernels of ``_fused`` run the whole layer, autograd
included, as one C++ operator where they apply (one pass for the statistics, one for the output, one
for the backward); under ``torch.distributed`` the Function runs them around the all-reduce of the
statistics; elsewhere it runs torch ops (or the Triton kernels, or the custom operators of ``_ops``).
"""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor
from torch.autograd.function import once_differentiable

from normact.functional import _fused, _ops
from normact.functional._kernel_api import FunctionalKernels
from normact.functional._reductions import check_dtype, memory_format, row_dot, row_sum, rows, unrows
from normact.functional.activations import Elementwise

__all__ = [
    "DEFAULT_LOWER",
    "DEFAULT_MOMENTUM",
    "DEFAULT_UPPER",
    "NonFiniteStatistics",
    "normalization_factor",
    "normalized_activation",
    "normalized_activation_derivative",
    "update_running_statistics",
]

# The paper gives no values for m, L and U; docs/layers.md has the experiment behind these.
DEFAULT_MOMENTUM = 0.1
DEFAULT_LOWER = 0.5
DEFAULT_UPPER = 2.0
# A batch whose input variance is below this many ulps of its second moment counts as constant.
_CONSTANT_ULPS = 128


class NonFiniteStatistics(ValueError):
    """A training batch whose statistics are not finite: the input holds nan or inf, or its squares overflow.

    Raised before the running statistics are touched. In a training run it means the run diverged;
    the runner records it as ``diverged`` with the layer and the step.
    """


def normalization_factor(rho: Tensor, rho_prime: Tensor) -> Tensor:
    """``lam = sqrt((rho + rho') / (2 rho rho'))``, one over the root of the harmonic mean (ANAct eq. 13)."""
    return torch.sqrt(0.5 * (rho.reciprocal() + rho_prime.reciprocal()))


def _buffer(x: Tensor, writer: object) -> Tensor | None:
    """A fresh tensor like x for a base that can write into one, in eager mode only.

    Reusing one buffer saves allocations in eager mode; a traced graph (torch.compile, make_fx) plans
    memory itself, and reads of a buffer that an ``out=`` op later overwrites are not safe there.
    """
    if writer is None or _fused.traced(x):
        return None
    return torch.empty_like(x)


def _kernels(x: Tensor, base: Elementwise):
    return _ops.usable(x, base.kernel[0]) if base.kernel is not None else None


def _moments(x: Tensor, base: Elementwise, groups: int, kernels) -> tuple[Tensor | None, Tensor]:
    """``f(x)`` (None if not computed) and the per-row sums ``(n, Σx, Σx², Σf, Σf², Σf'²)``, ``(groups, 6)``.

    The fused kernels only read x here, and the output pass recomputes f (the one-operator eager path
    stores f in this pass instead and rescales it in place). The torch path writes ``f'`` and then
    ``f`` into one fresh buffer where the base supports it, so it allocates a single tensor of x's size.
    """
    if kernels is not None:
        return None, kernels.moments(rows(x, groups), *base.kernel)
    buf = _buffer(x, base.f_out)
    d = base.derivative(x, out=buf if base.df_out is not None else None)
    sum_d2 = row_dot(d, d, groups)
    y = base(x, out=buf)
    n = torch.full((groups,), x.numel() // groups, dtype=sum_d2.dtype, device=x.device)
    sums = (n, row_sum(x, groups), row_dot(x, x, groups), row_sum(y, groups), row_dot(y, y, groups), sum_d2)
    return y, torch.stack(sums, dim=1)


def _output(
    x: Tensor, y: Tensor | None, base: Elementwise, shift: Tensor, scale: Tensor, groups: int, kernels
) -> Tensor:
    """``scale * (f(x) - shift)`` per row; ``y``, when given, is ``f(x)`` in a buffer of ours."""
    if isinstance(kernels, FunctionalKernels):
        return unrows(kernels.forward(rows(x, groups), scale, shift, *base.kernel), x)
    if kernels is not None:
        y = torch.empty_like(x)
        kernels.forward(rows(x, groups), rows(y, groups), scale, shift, *base.kernel)
        return y
    shift, scale = _row_shape(shift, x, groups > 1).to(x.dtype), _row_shape(scale, x, groups > 1).to(x.dtype)
    if y is None:
        y = base(x, out=_buffer(x, base.f_out))
    return y.sub_(shift).mul_(scale) if base.f_out is not None else (y - shift) * scale


def _batch_statistics(moments: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(mu, rho, rho')`` of each row of :func:`_moments` sums; NaN where a value is undefined.

    ``rho = Var[f(x)] / Var[x]`` (ANAct eq. 31) is undefined for a constant input (the variance of
    x is zero up to rounding) and ``rho`` or ``rho'`` equal to zero cannot give a finite ``lam``:
    those entries are NaN so that the running update skips them. ``eps`` is the machine epsilon of
    the precision the sums were accumulated in.
    """
    n, sx, sxx, sy, syy, sdd = moments.unbind(-1)
    mean_x, mean_y = sx / n, sy / n
    ex2 = sxx / n
    var_x = ex2 - mean_x * mean_x
    var_y = (syy / n - mean_y * mean_y).clamp_min(0)
    tol = _CONSTANT_ULPS * eps
    nan = torch.full_like(var_x, float("nan"))
    rho = torch.where((var_x > tol * ex2) & (var_y > 0), var_y / var_x, nan)
    rho_prime = sdd / n
    rho_prime = torch.where(rho_prime > 0, rho_prime, nan)
    return mean_y, rho, rho_prime


def update_running_statistics(
    mean: Tensor,
    rho: Tensor,
    rho_prime: Tensor,
    count: Tensor,
    batch_mean: Tensor,
    batch_rho: Tensor,
    batch_rho_prime: Tensor,
    momentum: float | None,
    lower: float,
    upper: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The running update of ANAct eqs. 16-18; returns new ``(mean, rho, rho', count)``.

    ``new = (1 - m) old + m batch`` (the momentum weighs the new batch, as in BatchNorm; ``None``
    gives the cumulative average). While ``count == 0`` a batch value initialises its statistic.
    Afterwards a batch ``rho`` (or ``rho'``) is taken only when ``lower * old < batch < upper * old``.
    A NaN batch value (see :func:`_batch_statistics`) is never taken. ``count`` counts the batches
    since the first one that defined both ``rho`` and ``rho'``.
    """
    first = count == 0
    m = 1.0 / (count + 1).to(mean.dtype) if momentum is None else momentum

    def take(old: Tensor, new: Tensor, gated: bool) -> Tensor:
        new = new.to(old.dtype)
        ok = torch.isfinite(new)
        if gated:
            ok = ok & (first | ((new > lower * old) & (new < upper * old)))
        return torch.where(ok, torch.where(first, new, torch.lerp(old, new, m)), old)

    defined = torch.isfinite(batch_rho) & torch.isfinite(batch_rho_prime)
    new_count = count + (~first | defined).to(count.dtype)
    return (
        take(mean, batch_mean, False),
        take(rho, batch_rho, True),
        take(rho_prime, batch_rho_prime, True),
        new_count,
    )


def _eps(x: Tensor) -> float:
    """Machine epsilon of the precision x's sums are accumulated in (at least float32)."""
    return torch.finfo(torch.promote_types(x.dtype, torch.float32)).eps


def _instance_statistics(moments: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample ``(mu, rho, rho')``; an undefined ratio becomes 1 (its sample's output is constant)."""
    mean, rho, rho_prime = _batch_statistics(moments, eps)
    one = torch.ones_like(rho)
    return (
        mean,
        torch.where(torch.isfinite(rho), rho, one),
        torch.where(torch.isfinite(rho_prime), rho_prime, one),
    )


_NON_FINITE = (
    "normalized activation: the training input has non-finite values (nan or inf) or values whose "
    "squares overflow; its batch statistics would corrupt the running statistics"
)


def _row_shape(t: Tensor, x: Tensor, per_row: bool) -> Tensor:
    """``t`` shaped to broadcast one value per sample (dim 0) of ``x``, or as a scalar."""
    return t.reshape((-1,) + (1,) * (x.dim() - 1)) if per_row else t.reshape(())


def _check_finite(moments: Tensor) -> None:
    if _fused.traced(moments):  # keep the check inside a traced graph
        torch._assert_async(torch.isfinite(moments).all(), _NON_FINITE)
    elif not math.isfinite(moments.sum().item()):  # the float64 sums of finite inputs are finite
        raise NonFiniteStatistics(_NON_FINITE)


def _statistics(
    moments: Tensor | None,
    running: tuple[Tensor | None, ...],
    alpha: Tensor,
    b: float,
    momentum: float | None,
    lower: float,
    upper: float,
    instance: bool,
    eps: float,
    kernels,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """``(mu, rho, rho', scale, count)`` the output uses: each sample's own (``instance``), the running
    values updated by ``moments`` (training), or the running values (eval, ``moments`` None)."""
    if kernels is not None and not isinstance(kernels, FunctionalKernels):  # the rules in C++
        m = -1.0 if momentum is None else momentum  # -1: cumulative average
        b_tanh = b * math.tanh(alpha.item())
        mean, rho, rho_prime, scale, count = kernels.statistics(
            moments, *running, instance, m, lower, upper, _CONSTANT_ULPS * eps, b_tanh
        )
        return mean, rho, rho_prime, scale, None if instance else count
    if instance:  # no running values
        mean, rho, rho_prime = _instance_statistics(moments, eps)
        count = None
    elif moments is None:  # eval: new tensors, since an input returned as an output cannot be saved
        mean, rho, rho_prime, count = (t.clone() for t in running)
    else:
        batch = [s[0] for s in _batch_statistics(moments, eps)]
        mean, rho, rho_prime, count = update_running_statistics(*running, *batch, momentum, lower, upper)
    scale = normalization_factor(rho, rho_prime) + b * torch.tanh(alpha.to(rho.dtype))
    return mean, rho, rho_prime, scale, count


class _Config(NamedTuple):
    """The non-tensor arguments of :class:`_NormalizedActivation` (one argument: ``apply`` binds each)."""

    base: Elementwise
    b: float
    momentum: float | None
    lower: float
    upper: float
    training: bool
    instance: bool
    group: object


class _NormalizedActivation(torch.autograd.Function):
    """Forward: statistics, running update and output; backward from the saved input only."""

    @staticmethod
    def forward(
        x: Tensor,
        alpha: Tensor,
        mean: Tensor | None,
        rho: Tensor | None,
        rho_prime: Tensor | None,
        count: Tensor | None,
        config: _Config,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor]:
        base, b, momentum, lower, upper, training, instance, group = config
        x = x.contiguous(memory_format=memory_format(x))
        groups = x.shape[0] if instance else 1
        kernels = _kernels(x, base)
        y = moments = None
        if training or instance:
            y, moments = _moments(x, base, groups, kernels)
            if training:
                _check_finite(moments)
            if group is not None and not instance:
                dist.all_reduce(moments, group=group)
        running, eps = (mean, rho, rho_prime, count), _eps(x)
        mean, rho, rho_prime, scale, count = _statistics(
            moments, running, alpha, b, momentum, lower, upper, instance, eps, kernels
        )
        return _output(x, y, base, mean, scale, groups, kernels), mean, rho, rho_prime, count, scale

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, alpha, *_ = inputs
        config = inputs[6]
        ctx.base, ctx.b, ctx.instance = config.base, config.b, config.instance
        mean, scale = output[1], output[5]
        ctx.mark_non_differentiable(*(t for t in output[1:] if t is not None))
        ctx.save_for_backward(x, alpha, mean, scale)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor, *_) -> tuple[Tensor | None, ...]:
        x, alpha, mean, scale = ctx.saved_tensors
        fmt = memory_format(x)
        x, grad = x.contiguous(memory_format=fmt), grad_out.contiguous(memory_format=fmt)
        groups = x.shape[0] if ctx.instance else 1
        grad_x, centered = _input_grad(grad, x, ctx.base, mean, scale, groups, ctx.needs_input_grad[1])
        grad_alpha = None
        if centered is not None:
            # dL/dalpha = b (1 - tanh^2 alpha) sum(grad * (f(x) - mu)) (ANAct eq. 36)
            tanh = torch.tanh(alpha.to(centered.dtype))
            grad_alpha = (ctx.b * (1 - tanh * tanh) * centered.sum()).to(alpha.dtype)
        return (grad_x if ctx.needs_input_grad[0] else None, grad_alpha) + (None,) * 5


# Function.apply binds its arguments to forward's signature on every call; a stored signature spares
# inspect rebuilding it each time.
_NormalizedActivation.forward.__signature__ = inspect.signature(_NormalizedActivation.forward)


def _input_grad(
    grad: Tensor, x: Tensor, base: Elementwise, mean: Tensor, scale: Tensor, groups: int, centered: bool
) -> tuple[Tensor, Tensor | None]:
    """``scale * grad * f'(x)`` and, if ``centered``, the per-row ``sum(grad * (f(x) - mean))``."""
    kernels = _kernels(x, base)
    if isinstance(kernels, FunctionalKernels):
        gx, sums = kernels.backward(rows(grad, groups), rows(x, groups), scale, mean, *base.kernel, centered)
        return unrows(gx, x), sums if centered else None
    if kernels is not None:
        gx = torch.empty_like(x)
        scale, mean = scale.double().reshape(groups), mean.double().reshape(groups)
        sums = kernels.backward(
            rows(grad, groups), rows(x, groups), rows(gx, groups), scale, mean, *base.kernel, centered
        )
        return gx, sums if centered else None
    buf = _buffer(x, base.vjp_out)
    sums = None
    if not centered:
        gx = base.vjp(grad, x, out=buf)
    elif base.homogeneous:  # f(x) = x f'(x)
        gx = base.vjp(grad, x, out=buf)
        sums = row_dot(gx, x, groups)
    else:
        sums = row_dot(grad, base(x, out=buf), groups)
        gx = base.vjp(grad, x, out=buf)
    if sums is not None:
        sums = sums - mean.reshape(-1) * row_sum(grad, groups)
    return gx.mul_(_row_shape(scale, x, groups > 1).to(gx.dtype)), sums


def _process_group(sync: bool, group: object) -> object:
    if sync and dist.is_available() and dist.is_initialized():
        group = group if group is not None else dist.group.WORLD
        if dist.get_world_size(group) > 1:
            return group
    return None


def normalized_activation(
    input: Tensor,
    alpha: Tensor,
    running_mean: Tensor | None,
    running_rho: Tensor | None,
    running_rho_prime: Tensor | None,
    num_batches_tracked: Tensor | None,
    base: Elementwise,
    training: bool,
    momentum: float | None = DEFAULT_MOMENTUM,
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
    b: float = 0.3,
    instance: bool = False,
    sync: bool = True,
    process_group: object = None,
) -> Tensor:
    """``(lam + b tanh(alpha)) * (f(x) - mu)`` (ANAct eq. 15), updating the running buffers in training.

    In batch mode (``instance=False``) the statistics are scalars over every element of ``input``;
    in training the running buffers are updated in place by :func:`update_running_statistics` and
    the output uses the updated values; in eval it uses the stored ones. With ``instance=True`` each
    sample (index of dim 0) uses its own statistics, in training and eval alike, and the running
    buffers may be ``None``. With ``sync`` and an initialised ``torch.distributed`` process group the
    batch statistics are those of the batch over all processes. No gradient flows through the
    statistics; ``alpha`` gets ``b (1 - tanh^2 alpha) sum(grad (f(x) - mu))`` (ANAct eq. 36).
    """
    check_dtype(input, f"normalized activation ({base.name})")
    if instance:
        if input.dim() < 2:
            raise ValueError(f"instance-wise statistics need a batch dimension (got {input.dim()}D input)")
        if input.shape[0] == 0:
            raise ValueError(
                f"instance-wise statistics need at least one sample (got input of shape {tuple(input.shape)})"
            )
        stats = (None, None, None, None)
    else:
        stats = (running_mean, running_rho, running_rho_prime, num_batches_tracked)
        if any(t is None for t in stats):
            raise ValueError(
                "batch-wise normalization needs running_mean, running_rho, running_rho_prime and "
                "num_batches_tracked (or instance=True)"
            )
    group = _process_group(sync and training and not instance, process_group)
    kernels = _fused.eager(input) if base.kernel is not None and group is None else None
    if kernels is not None:  # the whole layer in C++, its autograd and running update included
        m = -1.0 if momentum is None else momentum  # -1: cumulative average
        tol = _CONSTANT_ULPS * _eps(input)
        try:
            return kernels.normalized_activation(
                input, alpha, *stats, *base.kernel, b, m, lower, upper, tol, training, instance
            )
        except ValueError as error:  # raised before the running buffers change
            raise NonFiniteStatistics(_NON_FINITE) from error
    config = _Config(base, b, momentum, lower, upper, training, instance, group)
    # under autocast the statistics still accumulate in float32 or wider (autocast would run their
    # matrix products in its lower precision); the output has the input's dtype
    with torch.autocast(input.device.type, enabled=False):
        out, mean, rho, rho_prime, count, _ = _NormalizedActivation.apply(input, alpha, *stats, config)
    if training and not instance:
        with torch.no_grad():
            running_mean.copy_(mean.reshape(()))
            running_rho.copy_(rho.reshape(()))
            running_rho_prime.copy_(rho_prime.reshape(()))
            num_batches_tracked.copy_(count.reshape(()))
    return out


def normalized_activation_derivative(
    input: Tensor,
    alpha: Tensor,
    running_rho: Tensor | None,
    running_rho_prime: Tensor | None,
    base: Elementwise,
    b: float = 0.3,
    instance: bool = False,
) -> Tensor:
    """``d out / d input`` elementwise with the statistics held constant: ``(lam + b tanh alpha) f'(x)``.

    Batch mode uses the running ``rho``, ``rho'``; instance mode each sample's own statistics.
    """
    with torch.no_grad():
        if instance:
            moments = _moments(input, base, input.shape[0], None)[1]
            _, rho, rho_prime = _instance_statistics(moments, _eps(input))
        else:
            rho, rho_prime = running_rho, running_rho_prime
        scale = normalization_factor(rho, rho_prime) + b * torch.tanh(alpha.to(rho.dtype))
        return base.derivative(input) * _row_shape(scale, input, instance).to(input.dtype)
