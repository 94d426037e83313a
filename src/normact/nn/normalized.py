"""ANAct normalized activations as modules: :class:`NormalizedActivation`, NReLU, NSwish, NLReLU.

ANAct: Adaptive Normalization for Activation Functions, eq. 15 with eqs. 13, 16-18 and 31-40.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from normact.functional import activations as A
from normact.functional import normalized as N
from normact.functional.normalized import DEFAULT_LOWER, DEFAULT_MOMENTUM, DEFAULT_UPPER

__all__ = [
    "NLReLU",
    "NReLU",
    "NSwish",
    "NormalizedActivation",
]


def _resolve_base(
    base: str | A.Elementwise | Callable[[Tensor], Tensor],
    derivative: Callable[[Tensor], Tensor] | None,
    params: dict,
) -> A.Elementwise:
    if isinstance(base, str):
        return A.elementwise(base, **params)
    if params:
        raise TypeError(f"base activation parameters {sorted(params)} apply only to a base given by name")
    if isinstance(base, A.Elementwise):
        return base
    if derivative is None:
        derivative = getattr(base, "derivative", None)
    if not callable(base) or not callable(derivative):
        raise TypeError(
            f"base must be an activation name ({A.elementwise_names()}), an Elementwise, or a callable "
            f"with its derivative (pass derivative=, or a module with a derivative method); got {base!r}"
        )
    name = type(base).__name__ if isinstance(base, nn.Module) else getattr(base, "__name__", "custom")
    return A.Elementwise(name, base, derivative)


class NormalizedActivation(nn.Module):
    r"""Normalized activation ``(lam + b tanh(alpha)) (f(x) - mu)`` of any base activation f.

    ANAct eq. 15 (33, 38): ``mu`` is the mean of ``f(x)``, ``lam = sqrt((rho + rho') / (2 rho rho'))``
    (eq. 13/32) with ``rho = Var[f(x)] / Var[x]`` (eq. 31) and ``rho' = mean f'(x)^2``, each a scalar
    over every element of the batch, and ``alpha`` a learnable scalar initialised to 0. In training
    the batch values update running values (eqs. 16-18), ``new = (1 - momentum) old + momentum
    batch``; the first batch initialises them and a batch ``rho`` or ``rho'`` outside
    ``(lower * old, upper * old)`` is skipped. The output uses the freshly updated values; eval uses
    the stored ones. The statistics carry no gradient. Under ``torch.distributed`` (with ``sync``)
    the batch is the union of the processes' batches, as in SyncBatchNorm.

    Args:
        base: activation name (``normact.functional.elementwise_names()``), an ``Elementwise``, a
            module with a ``derivative`` method, or a callable together with ``derivative``.
        momentum: weight of the new batch in the running values; ``None`` for a cumulative average.
        lower, upper: the outlier gate ``L`` and ``U`` of eqs. 17-18 (``0`` and ``inf`` turn it off).
        b: bound of the learnable adjustment ``b tanh(alpha)`` (0.3 in the paper).
        instance: statistics of each sample (dim 0) instead of the batch, in training and eval alike,
            as in the paper's Transformer experiment; no running values are kept.
        derivative: derivative of a callable ``base``.
        sync: average the batch statistics over processes when ``torch.distributed`` is initialised.
        process_group: the group to synchronise over (default: the whole world).
        **base_params: parameters of a base given by name, e.g. ``negative_slope=0.2``.

    Shape:
        Any shape; with ``instance=True`` dim 0 indexes the samples.

    Example:
        >>> act = NormalizedActivation("leaky_relu", negative_slope=0.2)
        >>> y = act(torch.randn(8, 16, 4, 4))
    """

    _version = 1
    running_mean: Tensor | None
    running_rho: Tensor | None
    running_rho_prime: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        base: str | A.Elementwise | Callable[[Tensor], Tensor] = "relu",
        momentum: float | None = DEFAULT_MOMENTUM,
        lower: float = DEFAULT_LOWER,
        upper: float = DEFAULT_UPPER,
        b: float = 0.3,
        instance: bool = False,
        *,
        derivative: Callable[[Tensor], Tensor] | None = None,
        sync: bool = True,
        process_group: object = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **base_params: float | str,
    ) -> None:
        super().__init__()
        if momentum is not None and not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1] or None (got {momentum})")
        if not 0.0 <= lower < 1.0 < upper:
            raise ValueError(f"the gate needs 0 <= lower < 1 < upper (got lower={lower}, upper={upper})")
        if not 0.0 <= b:
            raise ValueError(f"b must be non-negative (got {b})")
        self.base = _resolve_base(base, derivative, base_params)
        if isinstance(base, nn.Module):
            self.base_module = base
        self.momentum, self.lower, self.upper, self.b = momentum, float(lower), float(upper), float(b)
        self.instance, self.sync, self.process_group = instance, sync, process_group
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.zeros((), **factory))
        if instance:
            for name in ("running_mean", "running_rho", "running_rho_prime", "num_batches_tracked"):
                self.register_buffer(name, None)
        else:
            self.register_buffer("running_mean", torch.zeros((), **factory))
            self.register_buffer("running_rho", torch.ones((), **factory))
            self.register_buffer("running_rho_prime", torch.ones((), **factory))
            self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long, device=device))
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Forget the running statistics: ``mu = 0``, ``rho = rho' = 1`` (so ``lam = 1``), count 0."""
        if not self.instance:
            self.running_mean.zero_()
            self.running_rho.fill_(1)
            self.running_rho_prime.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """``alpha = 0`` (as in the paper) and fresh running statistics."""
        self.reset_running_stats()
        with torch.no_grad():
            self.alpha.zero_()

    def forward(self, input: Tensor) -> Tensor:
        return N.normalized_activation(
            input,
            self.alpha,
            self.running_mean,
            self.running_rho,
            self.running_rho_prime,
            self.num_batches_tracked,
            self.base,
            self.training,
            self.momentum,
            self.lower,
            self.upper,
            self.b,
            self.instance,
            self.sync,
            self.process_group,
        )

    def derivative(self, input: Tensor) -> Tensor:
        """``d out / d input`` elementwise from the current statistics (no side effects)."""
        return N.normalized_activation_derivative(
            input, self.alpha, self.running_rho, self.running_rho_prime, self.base, self.b, self.instance
        )

    @property
    def lam(self) -> Tensor:
        """The normalization factor ``lam`` of the running statistics (ANAct eq. 13)."""
        if self.instance:
            raise AttributeError("an instance-wise normalized activation keeps no running lam")
        return N.normalization_factor(self.running_rho, self.running_rho_prime)

    def extra_repr(self) -> str:
        s = f"{self.base!r}, momentum={self.momentum}, lower={self.lower}, upper={self.upper}, b={self.b}"
        s += f", instance={self.instance}"
        return s if self.sync else s + ", sync=False"


class _Named(NormalizedActivation):
    _base: str

    def __init__(
        self,
        momentum: float | None = DEFAULT_MOMENTUM,
        lower: float = DEFAULT_LOWER,
        upper: float = DEFAULT_UPPER,
        b: float = 0.3,
        instance: bool = False,
        *,
        sync: bool = True,
        process_group: object = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **base_params: float,
    ) -> None:
        super().__init__(
            self._base,
            momentum,
            lower,
            upper,
            b,
            instance,
            sync=sync,
            process_group=process_group,
            device=device,
            dtype=dtype,
            **base_params,
        )


class NReLU(_Named):
    """Normalized ReLU, ANAct eqs. 33-37: ``rho'`` is the fraction of positive inputs."""

    _base = "relu"


class NSwish(_Named):
    """Normalized Swish (SiLU), ANAct eqs. 38-42: ``f'(x) = s + x s (1 - s)``, s = sigmoid(x)."""

    _base = "swish"


class NLReLU(_Named):
    """Normalized LeakyReLU (ANAct sec. 3.2); ``negative_slope=`` defaults to 0.01, as in eq. 26."""

    _base = "leaky_relu"
