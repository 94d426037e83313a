"""Activation specifications for the theory engine: value, derivative, kinks, bounds and parameters.

Every function here is a vectorised numpy callable. The exponential-linear family

    f(x) = lam * x                               for x > 0
    f(x) = lam * (a * (exp(b x) - 1) + c * x)    for x <= 0

covers identity, ReLU, leaky ReLU, ELU, SELU, dSELU, sSELU and lSELU; its Gaussian moments have closed
forms (`closed_form.py`). Every other activation is integrated numerically (`gaussian.expect`).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import special

__all__ = [
    "SELU_ALPHA",
    "SELU_LAMBDA",
    "Activation",
    "ExpLinear",
    "custom_activation",
    "get_activation",
    "list_activations",
]

Array = np.ndarray
Fn = Callable[[Array], Array]

# Klambauer et al. (2017), eq. 14: the fixed point (0, 1) of mean and variance.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946
LECUN_TANH_SCALE = 1.7159


@dataclass(frozen=True)
class ExpLinear:
    """Coefficients of the exponential-linear family (see the module docstring)."""

    lam: float
    a: float = 0.0
    b: float = 1.0
    c: float = 0.0

    def f(self, x: Array) -> Array:
        neg = self.a * np.expm1(self.b * np.minimum(x, 0.0)) + self.c * x
        return self.lam * np.where(x > 0, x, neg)

    def df(self, x: Array) -> Array:
        neg = self.a * self.b * np.exp(self.b * np.minimum(x, 0.0)) + self.c
        return self.lam * np.where(x > 0, 1.0, neg)


@dataclass(frozen=True)
class Activation:
    """An activation function with what the theory engine needs to know about it.

    Attributes:
        name: registry name (or a user-given label).
        f, df: the function and its derivative, vectorised over numpy arrays.
        params: the parameter values it was built with.
        kinks: points where f or f' is not smooth; quadrature splits there.
        bounds: (inf f, sup f) for bounded functions, else None. The saturation metric divides by
            max(|inf|, |sup|), the asymptote.
        explinear: closed-form coefficients when the function is in the exponential-linear family.
        numerical_derivative: True when df is a finite-difference approximation.
    """

    name: str
    f: Fn
    df: Fn
    params: Mapping[str, float] = field(default_factory=dict)
    kinks: tuple[float, ...] = ()
    bounds: tuple[float, float] | None = None
    explinear: ExpLinear | None = None
    numerical_derivative: bool = False

    @property
    def asymptote(self) -> float | None:
        """The largest |f| approached at +-infinity for bounded functions, else None."""
        return None if self.bounds is None else max(abs(self.bounds[0]), abs(self.bounds[1]))

    def __call__(self, x: Array) -> Array:
        return self.f(np.asarray(x, dtype=float))


def _explinear(name: str, coef: ExpLinear, **params: float) -> Activation:
    kinks = () if (coef.a == 0.0 and coef.c == 1.0 and coef.lam != 0.0) else (0.0,)
    return Activation(name, coef.f, coef.df, dict(params), kinks=kinks, explinear=coef)


def _sigmoid(x: Array) -> Array:
    return special.expit(x)


def _softplus(x: Array) -> Array:
    return np.logaddexp(0.0, x)


def identity() -> Activation:
    return _explinear("identity", ExpLinear(lam=1.0, c=1.0))


def relu() -> Activation:
    return _explinear("relu", ExpLinear(lam=1.0))


def leaky_relu(slope: float = 0.01) -> Activation:
    return _explinear("leaky_relu", ExpLinear(lam=1.0, c=slope), slope=slope)


def elu(alpha: float = 1.0) -> Activation:
    return _explinear("elu", ExpLinear(lam=1.0, a=alpha), alpha=alpha)


def selu() -> Activation:
    return _explinear("selu", ExpLinear(lam=SELU_LAMBDA, a=SELU_ALPHA))


def dselu(lam: float = SELU_LAMBDA, alpha: float = SELU_ALPHA) -> Activation:
    """SELU with free (lam, alpha), as solved by the depth-aware program (self-normalization paper eq. 5)."""
    return _explinear("dselu", ExpLinear(lam=lam, a=alpha), lam=lam, alpha=alpha)


def sselu(lam: float = 1.0, alpha: float = 2.0, beta: float = 0.5) -> Activation:
    """Scaled SELU: lam * (x if x > 0 else alpha * (exp(beta x) - 1)) (self-normalization paper eq. 9)."""
    return _explinear("sselu", ExpLinear(lam=lam, a=alpha, b=beta), lam=lam, alpha=alpha, beta=beta)


def lselu(lam: float = 1.0, alpha: float = 1.0, beta: float = 0.5) -> Activation:
    """Leaky SELU: lam * (x if x > 0 else alpha e^x + beta x - alpha) (self-normalization paper eq. 10)."""
    return _explinear("lselu", ExpLinear(lam=lam, a=alpha, c=beta), lam=lam, alpha=alpha, beta=beta)


def tanh() -> Activation:
    return Activation("tanh", np.tanh, lambda x: 1.0 - np.tanh(x) ** 2, bounds=(-1.0, 1.0))


def lecun_tanh() -> Activation:
    """LeCun et al. (2012): 1.7159 tanh(2x / 3)."""
    s, k = LECUN_TANH_SCALE, 2.0 / 3.0
    return Activation(
        "lecun_tanh",
        lambda x: s * np.tanh(k * x),
        lambda x: s * k * (1.0 - np.tanh(k * x) ** 2),
        bounds=(-s, s),
    )


def softsign() -> Activation:
    return Activation(
        "softsign",
        lambda x: x / (1.0 + np.abs(x)),
        lambda x: 1.0 / (1.0 + np.abs(x)) ** 2,
        kinks=(0.0,),
        bounds=(-1.0, 1.0),
    )


def sigmoid() -> Activation:
    return Activation("sigmoid", _sigmoid, lambda x: _sigmoid(x) * _sigmoid(-x), bounds=(0.0, 1.0))


def swish(beta: float = 1.0) -> Activation:
    """Swish x * sigmoid(beta x) (Ramachandran et al., 2018); beta = 1 is SiLU."""

    def df(x: Array) -> Array:
        s = _sigmoid(beta * x)
        return s + beta * x * s * (1.0 - s)

    return Activation("swish", lambda x: x * _sigmoid(beta * x), df, {"beta": beta})


def silu() -> Activation:
    base = swish(1.0)
    return Activation("silu", base.f, base.df)


def gelu() -> Activation:
    """Exact GELU x * Phi(x) (Hendrycks & Gimpel, 2016)."""
    return Activation(
        "gelu",
        lambda x: x * special.ndtr(x),
        lambda x: special.ndtr(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi),
    )


def softplus() -> Activation:
    return Activation("softplus", _softplus, _sigmoid)


def mish() -> Activation:
    """Mish x * tanh(softplus(x)) (Misra, 2019)."""

    def df(x: Array) -> Array:
        t = np.tanh(_softplus(x))
        return t + x * (1.0 - t * t) * _sigmoid(x)

    return Activation("mish", lambda x: x * np.tanh(_softplus(x)), df)


_REGISTRY: dict[str, Callable[..., Activation]] = {
    fn.__name__: fn
    for fn in (
        identity,
        relu,
        leaky_relu,
        elu,
        selu,
        dselu,
        sselu,
        lselu,
        tanh,
        lecun_tanh,
        softsign,
        sigmoid,
        swish,
        silu,
        gelu,
        softplus,
        mish,
    )
}


# Layer names of normact.registry that are not one fixed elementwise function, and why.
_NOT_ELEMENTWISE = {
    **{
        name: f"{name} is {base} normalized by its batch statistics (ANAct eq. 15): its shift and scale "
        "follow the input's distribution, so it is not one fixed function of x; under a Gaussian input "
        f"its output has mean 0 by construction. Its scale lambda: 'normact theory {base} --std S'"
        for name, base in (("nrelu", "relu"), ("nswish", "swish"), ("nlrelu", "leaky_relu"))
    },
    "normalized": "normalized is a normalized activation of any base (ANAct eq. 15), not one fixed function; "
    "name its base instead (e.g. 'normact theory swish'), whose lambda the output prints",
    **{
        name: f"{name} is {base} times the constant GPN gain (ANAct eqs. 25, 27), which "
        f"'normact theory {base}' prints as gpn_gain"
        for name, base in (("relu_gpn", "relu"), ("lrelu_gpn", "leaky_relu"), ("gpn", "its base"))
    },
    "crelu": "crelu concatenates relu(x) and relu(-x): two outputs per input, not an elementwise function; "
    "each half is 'normact theory relu'",
}

# parameters that select a solved member of a SELU family instead of its coefficients
_SOLVED = ("eps", "central", "lam_min")


def list_activations() -> list[str]:
    """Names accepted by `get_activation`."""
    return sorted(_REGISTRY)


def activation_params(name: str) -> dict[str, float]:
    """The parameters of a registered activation and their defaults."""
    return {p.name: p.default for p in inspect.signature(_lookup(name)).parameters.values()}


def _lookup(name: str) -> Callable[..., Activation]:
    try:
        return _REGISTRY[name]
    except KeyError:
        if name in _NOT_ELEMENTWISE:
            reason = _NOT_ELEMENTWISE[name]
            raise ValueError(f"the theory engine has no activation {name!r}: {reason}") from None
        raise ValueError(f"unknown activation {name!r}; choose from {list_activations()}") from None


def get_activation(name: str | Activation | Callable[..., object], **params: float) -> Activation:
    """Build a registered activation by name with parameter overrides; an `Activation` passes through.

    For dselu, sselu and lselu, ``eps=`` (and ``central=``, ``lam_min=``) instead of the coefficients
    gives the solved member of the family (`normact.theory.solve`), as ``normact.create_act`` does for
    the layers.

    Any other callable is wrapped: a vectorised numpy function by `custom_activation`, a torch
    activation module or function of a tensor (``nn.GELU()``, ``torch.tanh``) by
    ``normact.probes.theory_activation``, which evaluates it in float64 with its autograd derivative
    (torch is imported only when such an object is given, so it is already loaded).

    Example: ``get_activation("leaky_relu", slope=0.2)``, ``get_activation("sselu", eps=0.06)``.
    """
    if not isinstance(name, str):
        if params:
            raise ValueError(f"parameters {sorted(params)} given with an activation object; pass a name")
        return name if isinstance(name, Activation) else _from_callable(name)
    factory = _lookup(name)
    if "eps" in params:
        return _solved(name, params)
    valid = activation_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"activation {name!r} has no parameter(s) {unknown}; its parameters are "
            f"{sorted(valid) if valid else 'none'}"
        )
    bad = {k: v for k, v in params.items() if not np.isfinite(float(v))}
    if bad:
        raise ValueError(f"activation {name!r}: parameters must be finite numbers, got {bad}")
    return factory(**{k: float(v) for k, v in params.items()})


def _from_callable(fn: Callable[..., object]) -> Activation:
    if inspect.isclass(fn) or not callable(fn):
        raise TypeError(f"expected an activation name, an Activation or a function (an instance), got {fn!r}")
    try:
        out = fn(np.array([-0.5, 0.5]))
    except Exception:  # not a numpy function: a torch one raises on an ndarray
        out = None
    if isinstance(out, np.ndarray) and out.shape == (2,):
        return custom_activation(fn, name=getattr(fn, "__name__", "custom"))
    if "torch" not in sys.modules:
        raise TypeError(f"{fn!r} is neither a vectorised numpy function nor a torch activation")
    from normact.probes.depth import theory_activation

    return theory_activation(fn)


def _solved(name: str, params: Mapping[str, float]) -> Activation:
    from normact.theory.solver import FAMILIES, solve

    if name not in FAMILIES:
        raise ValueError(f"eps= selects a solved member of {sorted(FAMILIES)}; {name!r} is not one of them")
    extra = sorted(set(params) - set(_SOLVED))
    if extra:
        raise ValueError(f"{name} with eps= takes only {list(_SOLVED)}; also got {extra}")
    central, lam_min = bool(params.get("central", False)), float(params.get("lam_min", 1.0))
    return solve(name, float(params["eps"]), central=central, lam_min=lam_min).activation()


def custom_activation(
    f: Fn,
    df: Fn | None = None,
    *,
    name: str = "custom",
    kinks: tuple[float, ...] = (),
    bounds: tuple[float, float] | None = None,
    step: float = 1e-5,
) -> Activation:
    """Wrap a user's vectorised function (and optionally its derivative) for the theory engine.

    Without `df`, the derivative is the fourth-order central difference
    (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / (12 h) with h = step * max(1, |x|): error O(h^4) where f
    is smooth, but wrong within 2h of a kink, so quantities that use f' (rho', phi, lambda) are then
    accurate only to about the Gaussian mass within 2h of the kinks (~1e-5 for step=1e-5).
    """
    if df is None:

        def df(x: Array) -> Array:
            h = step * np.maximum(1.0, np.abs(x))
            return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)

        return Activation(name, f, df, kinks=tuple(kinks), bounds=bounds, numerical_derivative=True)
    return Activation(name, f, df, kinks=tuple(kinks), bounds=bounds)
