"""Elementwise activations as (f, f') pairs on tensors, named as in ``normact.theory``.

Every activation of the four papers is an :class:`Elementwise`: its function, its derivative and,
for ReLU, LeakyReLU, the ELU family and SiLU, variants that write into a given buffer plus a fused
``grad * f'(x)``. The normalized activations (ANAct eq. 15) need f and f' of their base; the probes
need f' of every activation layer (ANAct eq. 22).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from normact.functional import _fused

__all__ = [
    "LECUN_TANH_SCALE",
    "SELU_ALPHA",
    "SELU_LAMBDA",
    "Elementwise",
    "elementwise",
    "elementwise_names",
    "lecun_tanh",
    "theory_activation",
]

# Klambauer et al. (2017): the fixed point (0, 1) of mean and variance; the values torch uses.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
# LeCun et al. (2012), "Efficient BackProp": f(x) = 1.7159 tanh(2x/3).
LECUN_TANH_SCALE = 1.7159

_aten = torch.ops.aten


@dataclass(frozen=True)
class Elementwise:
    """An elementwise activation ``f`` with its derivative ``f'``.

    ``f``/``df`` map a tensor to a new tensor. The optional ``f_out``/``df_out`` write into a given
    buffer and ``vjp_out`` writes ``grad * f'(x)`` into one; they let the fused layers reuse a single
    buffer instead of allocating several. ``homogeneous`` marks ``f(x) = x f'(x)`` (ReLU, LeakyReLU),
    which spares recomputing ``f`` in a backward pass. ``kernel`` is ``(kind, p0, p1, lam)`` of the
    fused CPU kernels, for the activations they implement.
    """

    name: str
    f: Callable[[Tensor], Tensor]
    df: Callable[[Tensor], Tensor]
    params: dict[str, float | str] = field(default_factory=dict)
    f_out: Callable[[Tensor, Tensor], Tensor] | None = None
    df_out: Callable[[Tensor, Tensor], Tensor] | None = None
    vjp_out: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None
    homogeneous: bool = False
    kernel: tuple[int, float, float, float] | None = None

    def __call__(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        if out is not None and self.f_out is not None:
            return self.f_out(x, out)
        return self.f(x)

    def derivative(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        """f'(x) elementwise, written into ``out`` where the activation supports it."""
        if out is not None and self.df_out is not None:
            return self.df_out(x, out)
        return self.df(x)

    def vjp(self, grad: Tensor, x: Tensor, out: Tensor | None = None) -> Tensor:
        """``grad * f'(x)``, written into ``out`` where the activation supports it."""
        if out is not None and self.vjp_out is not None:
            return self.vjp_out(grad, x, out)
        return grad * self.df(x)

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


def _ones_like(x: Tensor) -> Tensor:
    return torch.ones((), dtype=x.dtype, device=x.device).expand_as(x)


def _identity(x: Tensor) -> Tensor:
    return x.clone()


# ReLU and LeakyReLU: one piecewise-linear family (ReLU is slope 0); f'(0) = slope, as in torch.
def _leaky(x: Tensor, negative_slope: float) -> Tensor:
    return F.leaky_relu(x, negative_slope)


def _leaky_out(x: Tensor, out: Tensor, negative_slope: float) -> Tensor:
    if negative_slope == 0.0:
        return torch.clamp_min(x, 0, out=out)
    return _aten.leaky_relu.out(x, negative_slope, out=out)


def _leaky_df(x: Tensor, negative_slope: float) -> Tensor:
    return _aten.leaky_relu_backward(_ones_like(x), x, negative_slope, False)


def _leaky_df_out(x: Tensor, out: Tensor, negative_slope: float) -> Tensor:
    if negative_slope == 0.0:
        return torch.gt(x, 0, out=out)
    return _leaky_vjp_out(_ones_like(x), x, out, negative_slope)


def _leaky_vjp_out(grad: Tensor, x: Tensor, out: Tensor, negative_slope: float) -> Tensor:
    return _aten.leaky_relu_backward.grad_input(grad, x, negative_slope, False, grad_input=out)


# ELU family: elu, selu, dselu and sselu are all aten's elu(x, alpha, scale, input_scale).
def _elu(x: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    return _aten.elu(x, alpha, scale, input_scale)


def _elu_out(x: Tensor, out: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    return _aten.elu.out(x, alpha, scale, input_scale, out=out)


def _elu_df(x: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    return _aten.elu_backward(_ones_like(x), alpha, scale, input_scale, False, x)


def _elu_vjp_out(
    grad: Tensor, x: Tensor, out: Tensor, alpha: float, scale: float, input_scale: float
) -> Tensor:
    return _aten.elu_backward.grad_input(grad, alpha, scale, input_scale, False, x, grad_input=out)


def _lselu(x: Tensor, lam: float, alpha: float, beta: float) -> Tensor:
    # A plain composite of eq. 10; normact.functional.lselu is the custom Function.
    return _aten.elu(x, alpha, lam, 1.0) + (lam * beta) * torch.clamp_max(x, 0)


def _lselu_df(x: Tensor, lam: float, alpha: float, beta: float) -> Tensor:
    return torch.where(x > 0, lam, lam * (alpha * torch.exp(x) + beta)).to(x.dtype)


def lecun_tanh(x: Tensor) -> Tensor:
    """LeCun tanh ``1.7159 tanh(2x/3)`` (Batch Normalization and Bounded Activations, sec. 7.2)."""
    return LECUN_TANH_SCALE * torch.tanh(x * (2.0 / 3.0))


def _lecun_tanh_df(x: Tensor) -> Tensor:
    t = torch.tanh(x * (2.0 / 3.0))
    return (1 - t * t).mul_(LECUN_TANH_SCALE * 2.0 / 3.0)


def _tanh_df(x: Tensor) -> Tensor:
    t = torch.tanh(x)
    return 1 - t * t


def _softsign_df(x: Tensor) -> Tensor:
    return (1 + x.abs()).square().reciprocal_()


def _sigmoid_df(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


def _swish(x: Tensor, beta: float) -> Tensor:
    return F.silu(x) if beta == 1.0 else x * torch.sigmoid(beta * x)


def _swish_df(x: Tensor, beta: float) -> Tensor:
    # ANAct eq. 40 with the sigmoid written out: s + beta x s (1 - s), s = sigmoid(beta x).
    s = torch.sigmoid(beta * x)
    return s + beta * x * s * (1 - s)


def _silu_out(x: Tensor, out: Tensor) -> Tensor:
    return _aten.silu.out(x, out=out)


def _silu_df(x: Tensor) -> Tensor:
    return _aten.silu_backward(_ones_like(x), x)


def _silu_df_out(x: Tensor, out: Tensor) -> Tensor:
    return _aten.silu_backward.grad_input(_ones_like(x), x, grad_input=out)


def _silu_vjp_out(grad: Tensor, x: Tensor, out: Tensor) -> Tensor:
    return _aten.silu_backward.grad_input(grad, x, grad_input=out)


def _gelu(x: Tensor, approximate: str) -> Tensor:
    return F.gelu(x, approximate=approximate)


def _gelu_df(x: Tensor, approximate: str) -> Tensor:
    return _aten.gelu_backward(_ones_like(x), x, approximate=approximate)


def _softplus(x: Tensor, beta: float, threshold: float) -> Tensor:
    return F.softplus(x, beta, threshold)


def _softplus_df(x: Tensor, beta: float, threshold: float) -> Tensor:
    # torch's softplus is linear where beta x > threshold.
    return torch.where(x * beta > threshold, 1.0, torch.sigmoid(beta * x)).to(x.dtype)


def _mish_df(x: Tensor) -> Tensor:
    t = torch.tanh(F.softplus(x))
    return t + x * (1 - t * t) * torch.sigmoid(x)


_SELU = {"lam": SELU_LAMBDA, "alpha": SELU_ALPHA}

# name -> parameter defaults (the only parameters the activation takes)
_DEFAULTS: dict[str, dict[str, float | str]] = {
    "identity": {},
    "relu": {},
    "leaky_relu": {"negative_slope": 0.01},
    "elu": {"alpha": 1.0},
    "selu": {},
    "dselu": dict(_SELU),
    "sselu": {**_SELU, "beta": 1.0},
    "lselu": {**_SELU, "beta": 0.0},
    "tanh": {},
    "lecun_tanh": {},
    "softsign": {},
    "sigmoid": {},
    "swish": {"beta": 1.0},
    "silu": {},
    "gelu": {"approximate": "none"},
    "softplus": {"beta": 1.0, "threshold": 20.0},
    "mish": {},
}

# name -> (f, f') of the activations without fused variants
_PLAIN: dict[str, tuple[Callable, Callable]] = {
    "identity": (_identity, torch.ones_like),
    "lselu": (_lselu, _lselu_df),
    "tanh": (torch.tanh, _tanh_df),
    "lecun_tanh": (lecun_tanh, _lecun_tanh_df),
    "softsign": (F.softsign, _softsign_df),
    "sigmoid": (torch.sigmoid, _sigmoid_df),
    "gelu": (_gelu, _gelu_df),
    "softplus": (_softplus, _softplus_df),
    "mish": (F.mish, _mish_df),
}


def elementwise_names() -> list[str]:
    """Names accepted by :func:`elementwise`."""
    return sorted(_DEFAULTS)


def _partial(fn: Callable, params: dict) -> Callable:
    return functools.partial(fn, **params) if params else fn


@functools.cache
def _build(name: str, items: tuple[tuple[str, float | str], ...]) -> Elementwise:
    p = dict(items)
    if name in ("relu", "leaky_relu"):
        slope = {"negative_slope": float(p.get("negative_slope", 0.0))}
        return Elementwise(
            name,
            functools.partial(_leaky, **slope),
            functools.partial(_leaky_df, **slope),
            p,
            f_out=functools.partial(_leaky_out, **slope),
            df_out=functools.partial(_leaky_df_out, **slope),
            vjp_out=functools.partial(_leaky_vjp_out, **slope),
            homogeneous=True,
            kernel=(_fused.LEAKY, slope["negative_slope"], 0.0, 1.0),
        )
    if name in ("elu", "selu", "dselu", "sselu"):
        elu = {
            "alpha": float(p.get("alpha", SELU_ALPHA)),
            "scale": float(p.get("lam", SELU_LAMBDA if name == "selu" else 1.0)),
            "input_scale": float(p.get("beta", 1.0)),
        }
        return Elementwise(
            name,
            functools.partial(_elu, **elu),
            functools.partial(_elu_df, **elu),
            p,
            f_out=functools.partial(_elu_out, **elu),
            vjp_out=functools.partial(_elu_vjp_out, **elu),
            kernel=(_fused.ELU, elu["alpha"], elu["input_scale"], elu["scale"]),
        )
    if name == "silu" or (name == "swish" and p["beta"] == 1.0):
        return Elementwise(
            name,
            F.silu,
            _silu_df,
            p,
            f_out=_silu_out,
            df_out=_silu_df_out,
            vjp_out=_silu_vjp_out,
            kernel=(_fused.SILU, 0.0, 0.0, 1.0),
        )
    f, df = _PLAIN.get(name, (_swish, _swish_df))
    kernel = (_fused.LSELU, p["alpha"], p["beta"], p["lam"]) if name == "lselu" else None
    return Elementwise(name, _partial(f, p), _partial(df, p), p, kernel=kernel)


# torch-side parameter names that normact.theory spells differently
_THEORY_PARAM_NAMES = {"negative_slope": "slope"}
# parameters normact.theory does not take, with the value its function has
_THEORY_IMPLICIT = {"gelu": {"approximate": "none"}, "softplus": {"beta": 1.0, "threshold": 20.0}}


def theory_activation(act: Elementwise):
    """The ``normact.theory`` Activation with the same function as ``act`` (same name and parameters).

    Softplus's linear tail above ``threshold`` (20) differs from the exact function by under 3e-9.
    """
    from normact import theory

    params = dict(act.params)
    for key, value in _THEORY_IMPLICIT.get(act.name, {}).items():
        if params.pop(key, value) != value:
            raise ValueError(
                f"normact.theory has no {act.name} with {key}={act.params[key]!r} (only {value!r})"
            )
    return theory.get_activation(act.name, **{_THEORY_PARAM_NAMES.get(k, k): v for k, v in params.items()})


def elementwise(name: str, **params: float | str) -> Elementwise:
    """The :class:`Elementwise` activation ``name`` with its parameters (defaults for the rest).

    Example: ``elementwise("leaky_relu", negative_slope=0.2).derivative(x)``.
    """
    if name not in _DEFAULTS:
        raise ValueError(f"unknown elementwise activation '{name}'; choose from {elementwise_names()}")
    defaults = _DEFAULTS[name]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise TypeError(
            f"activation '{name}' got unknown parameter(s) {unknown}; it takes {sorted(defaults)}"
        )
    return _build(name, tuple({**defaults, **params}.items()))
