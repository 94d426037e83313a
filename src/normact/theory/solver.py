"""Self-normalizing parameters of the SELU family (self-normalization paper, eqs. 5, 11 and 13).

The program (eq. 11): minimise gamma = |phi'(1) + 1| over the family's parameters subject to
phi(1) = 1 + eps, E_{N(0,1)}[f^2] = 1 and lam >= 1; the centralised program (eq. 13) adds E[f] = 0.
dSELU has two parameters and is fixed by the two equalities alone (eq. 5).

Structure used by the built-in families. Write the negative part as an amplitude r times a shape
g_t(x) (sSELU: alpha (e^{beta x} - 1), shape t = beta, r = alpha; lSELU: r (cos t (e^x - 1) + sin t x),
so alpha = r cos t, beta = r sin t). Under N(0, 1) the positive part gives E[f^2] and phi(1) the same 1/2,
so with A_f(t) = E[g_t^2 1{x<=0}], A_phi(t) = E[g_t'^2 1{x<=0}] and rho(t) = A_phi / A_f the equalities
become, in closed form,

    lam^2 = 2 (rho - 1 - eps) / (rho - 1),      r^2 = (1/lam^2 - 1/2) / A_f,

and lam >= 1 <=> rho(t) >= 1 + 2 eps. The program is a one-dimensional minimisation over t, done on a
dense grid (all closed forms, vectorised) and polished with Brent's method, with the lam = 1 boundary
point as a candidate: the global optimum on the family's domain, in milliseconds. The domain is the
families' natural one: alpha > 0, and beta > 0 for sSELU (a saturating exponential), beta >= 0 for lSELU
(a non-negative leak; beta = 0 is dSELU).

`solve_generic` solves the same program for any user-defined `Family` by SLSQP from several starts, on
the general quadrature; it is the independent route the tests compare the structured solver with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
from scipy import optimize

from normact.theory.activations import Activation, ExpLinear, get_activation
from normact.theory.closed_form import explinear_moments
from normact.theory.quantities import moments

__all__ = ["FAMILIES", "Family", "InfeasibleError", "Solution", "solve", "solve_generic"]

_RESIDUAL_TOL = 1e-9


class InfeasibleError(ValueError):
    """No parameters of the family meet the constraints for the requested eps."""


@dataclass(frozen=True)
class Solution:
    """The optimum of the program for one family and eps.

    Attributes:
        lam, alpha, beta: the parameters (beta is None for dSELU and for families without it).
        gamma: the objective |phi'(1) + 1| at the optimum.
        residuals: constraint residuals: phi(1) - (1 + eps), E[f^2] - 1, and E[f] (centralised only).
        converged: the residuals are below 1e-9 and the optimiser reported success.
        lam_at_bound: the constraint lam >= 1 is active.
        params: every parameter of the activation by name.
    """

    family: str
    eps: float
    central: bool
    lam: float
    alpha: float
    beta: float | None
    gamma: float
    residuals: dict[str, float]
    converged: bool
    lam_at_bound: bool
    params: dict[str, float] = field(default_factory=dict)

    def activation(self) -> Activation:
        """The solved activation, ready for `quantities` and friends."""
        return get_activation(self.family, **self.params)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Family:
    """A user-defined parametric activation family for `solve_generic`.

    Attributes:
        name: label used in results.
        build: params (as keyword arguments) -> Activation.
        bounds: (low, high) box for each parameter, in the order build takes them.
        lam: the name of the parameter constrained to be >= 1, or None.
    """

    name: str
    build: Callable[..., Activation]
    bounds: dict[str, tuple[float, float]]
    lam: str | None = "lam"


FAMILIES: dict[str, Family] = {
    "dselu": Family(
        "dselu", lambda **p: get_activation("dselu", **p), {"lam": (0.5, 2.0), "alpha": (1e-3, 5.0)}, lam=None
    ),
    "sselu": Family(
        "sselu",
        lambda **p: get_activation("sselu", **p),
        {"lam": (1.0, 1.5), "alpha": (1e-3, 10.0), "beta": (1e-3, 5.0)},
    ),
    "lselu": Family(
        "lselu",
        lambda **p: get_activation("lselu", **p),
        {"lam": (1.0, 1.5), "alpha": (1e-3, 5.0), "beta": (0.0, 2.0)},
    ),
}


# --- structured solver for the built-in families -------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """A family's negative part at unit amplitude, as a function of the shape parameter t."""

    grid: np.ndarray
    coef: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]  # (r, t) -> a, b, c
    params: Callable[[float, float, float], dict[str, float]]  # (lam, r, t) -> named parameters


_SHAPES = {
    "dselu": _Shape(
        np.array([0.0]),
        lambda r, t: (r, np.ones_like(t), np.zeros_like(t)),
        lambda lam, r, t: {"lam": lam, "alpha": r},
    ),
    "sselu": _Shape(
        np.geomspace(1e-3, 30.0, 3001),
        lambda r, t: (r, t, np.zeros_like(t)),
        lambda lam, r, t: {"lam": lam, "alpha": r, "beta": t},
    ),
    "lselu": _Shape(
        np.linspace(0.0, 0.5 * np.pi, 3001),
        lambda r, t: (r * np.cos(t), np.ones_like(t), r * np.sin(t)),
        lambda lam, r, t: {"lam": lam, "alpha": r * math.cos(t), "beta": r * math.sin(t)},
    ),
}


def _unit(shape: _Shape, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A_f(t), A_phi(t) and m(t) = E[g_t 1{x<=0}] under N(0, 1), at lam = 1 and unit amplitude."""
    t = np.asarray(t, dtype=float)
    a, b, c = shape.coef(np.ones_like(t), t)
    m = explinear_moments(ExpLinear(lam=1.0, a=a, b=b, c=c), 0.0, 1.0)
    return m.second - 0.5, m.df2 - 0.5, m.mean - 1.0 / math.sqrt(2.0 * math.pi)


def _curve(shape: _Shape, t: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lam(t), r(t) meeting phi(1) = 1 + eps and E[f^2] = 1, and the objective; NaN where infeasible."""
    a_f, a_phi, _ = _unit(shape, t)
    rho = a_phi / a_f
    with np.errstate(invalid="ignore", divide="ignore"):
        lam2 = 2.0 * (rho - 1.0 - eps) / (rho - 1.0)
        r2 = (1.0 / lam2 - 0.5) / a_f
        lam, r = np.sqrt(np.where(lam2 > 0, lam2, np.nan)), np.sqrt(np.where(r2 > 0, r2, np.nan))
    return lam, r, _objective(shape, lam, r, t)


def _moments_at(shape: _Shape, lam: np.ndarray, r: np.ndarray, t: np.ndarray):
    a, b, c = shape.coef(np.asarray(r, dtype=float), np.asarray(t, dtype=float))
    return explinear_moments(ExpLinear(lam=lam, a=a, b=b, c=c), 0.0, 1.0)


def _objective(shape: _Shape, lam: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.abs(_moments_at(shape, lam, r, t).df2_dvar + 1.0)


def _feasible_eps(shape: _Shape, need_lam_one: bool) -> float:
    """Supremum of eps for which the constraints can be met on the family's domain."""
    a_f, a_phi, _ = _unit(shape, shape.grid)
    top = float(np.nanmax(a_phi / a_f))
    return (top - 1.0) / 2.0 if need_lam_one else top - 1.0


def _solve_structured(family: str, eps: float, central: bool) -> Solution:
    shape = _SHAPES[family]
    if family == "dselu":
        if central:
            raise InfeasibleError("dselu has no centralised form: two parameters cannot meet three equations")
        t = shape.grid
        lam, r, _ = _curve(shape, t, eps)
        if not np.isfinite(lam[0] * r[0]):
            top = _feasible_eps(shape, need_lam_one=False)
            raise InfeasibleError(
                f"dselu: phi(1) = 1 + eps and E[f^2] = 1 have no solution for eps={eps}; "
                f"feasible eps lie in (0, {top:.6g})"
            )
        return _finish(family, eps, central, shape, float(lam[0]), float(r[0]), 0.0, lam_constrained=False)

    t = shape.grid
    lam, r, obj = _curve(shape, t, eps)
    feasible = np.isfinite(obj) & (lam >= 1.0)
    if central:
        return _solve_central(family, eps, shape, t, feasible)
    if not feasible.any():
        top = _feasible_eps(shape, need_lam_one=True)
        raise InfeasibleError(
            f"{family}: no lam >= 1 meets phi(1) = 1 + eps and E[f^2] = 1 for eps={eps}; feasible eps lie in "
            f"(0, {top:.6g}) on this family's domain"
        )
    a_f, a_phi, _ = _unit(shape, t)
    gap = a_phi / a_f - (1.0 + 2.0 * eps)  # >= 0 <=> lam >= 1
    candidates = []
    for k in np.flatnonzero(np.diff(np.sign(gap)) != 0):  # the lam = 1 boundary points
        tb = optimize.brentq(
            lambda x: _unit(shape, x)[1] / _unit(shape, x)[0] - 1.0 - 2.0 * eps,
            t[k],
            t[k + 1],
            xtol=1e-15,
            rtol=4 * np.finfo(float).eps,
        )
        candidates.append(tb)
    best = int(np.nanargmin(np.where(feasible, obj, np.nan)))
    candidates.append(float(t[best]))
    lo, hi = max(best - 1, 0), min(best + 1, len(t) - 1)
    if feasible[lo] and feasible[hi]:  # an interior minimum: polish it (else the boundary point is it)
        res = optimize.minimize_scalar(
            lambda x: _feasible_objective(shape, x, eps),
            bounds=(t[lo], t[hi]),
            method="bounded",
            options={"xatol": 1e-13},
        )
        candidates.append(float(res.x))
    _, t_best = min((_feasible_objective(shape, c, eps), c) for c in candidates)
    lam_b, r_b, _ = _curve(shape, np.array([t_best]), eps)
    return _finish(family, eps, False, shape, float(lam_b[0]), float(r_b[0]), t_best, lam_constrained=True)


def _feasible_objective(shape: _Shape, t: float, eps: float) -> float:
    """The objective at t, or inf where the constraints cannot be met with lam >= 1."""
    lam, _, obj = _curve(shape, np.array([t]), eps)
    ok = np.isfinite(obj[0]) and lam[0] >= 1.0 - 1e-12
    return float(obj[0]) if ok else math.inf


def _solve_central(family: str, eps: float, shape: _Shape, t: np.ndarray, feasible: np.ndarray) -> Solution:
    """Add E[f] = 0: the amplitude is then fixed by the mean too, leaving one equation in t."""
    sqrt_2pi = math.sqrt(2.0 * math.pi)

    def mismatch(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        m = _unit(shape, x)[2]
        r = _curve(shape, x, eps)[1]
        r_mean = -1.0 / (sqrt_2pi * m)  # E[f] / lam = 1/sqrt(2 pi) + r m(t) = 0
        return (r_mean - r) / r

    f = mismatch(t)
    roots = []
    for k in np.flatnonzero(np.isfinite(f[:-1]) & np.isfinite(f[1:]) & (np.sign(f[:-1]) != np.sign(f[1:]))):
        roots.append(optimize.brentq(lambda x: float(mismatch(np.array([x]))[0]), t[k], t[k + 1], xtol=1e-15))
    scored = []
    for tr in roots:
        lam, r, obj = _curve(shape, np.array([tr]), eps)
        if np.isfinite(obj[0]) and lam[0] >= 1.0:
            scored.append((float(obj[0]), tr, float(lam[0]), float(r[0])))
    if not scored:
        raise InfeasibleError(
            f"{family} (central): no lam >= 1 meets phi(1) = 1 + eps, E[f^2] = 1 and E[f] = 0 for eps={eps}"
        )
    _, tr, lam, r = min(scored)
    return _finish(family, eps, True, shape, lam, r, tr, lam_constrained=True)


def _finish(
    family: str,
    eps: float,
    central: bool,
    shape: _Shape,
    lam: float,
    r: float,
    t: float,
    lam_constrained: bool,
) -> Solution:
    params = shape.params(lam, r, t)
    if lam_constrained and lam < 1.0:
        params["lam"] = lam = 1.0  # a boundary root within 1e-15 of 1
    return _solution(family, eps, central, params, success=True, lam_constrained=lam_constrained)


def _solution(
    family: str,
    eps: float,
    central: bool,
    params: dict[str, float],
    success: bool,
    lam_constrained: bool,
    build: Callable[..., Activation] | None = None,
    lam_name: str | None = "lam",
) -> Solution:
    act = (build or (lambda **p: get_activation(family, **p)))(**params)
    m = moments(act, 0.0, 1.0)
    residuals = {"phi1": m.df2 - (1.0 + eps), "second_moment": m.second_moment - 1.0}
    if central:
        residuals["mean"] = m.mean
    lam = params.get(lam_name or "lam", math.nan)
    converged = success and all(abs(v) < _RESIDUAL_TOL for v in residuals.values())
    return Solution(
        family=family,
        eps=eps,
        central=central,
        lam=float(lam),
        alpha=float(params.get("alpha", math.nan)),
        beta=float(params["beta"]) if "beta" in params else None,
        gamma=abs(m.df2_dvar + 1.0),
        residuals=residuals,
        converged=converged,
        lam_at_bound=bool(lam_constrained and abs(lam - 1.0) < 1e-9),
        params=dict(params),
    )


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(
            f"eps must be a finite positive number, got {eps}; at eps = 0 the only solution is "
            "lam = sqrt(2), alpha = 0 (ReLU with He scaling)"
        )
    return eps


@lru_cache(maxsize=256)
def _solve_cached(family: str, eps: float, central: bool) -> Solution:
    return _solve_structured(family, eps, central)


def solve(family: str | Family, eps: float, central: bool = False) -> Solution:
    """Solve the self-normalization program for a built-in family (by name) or a user-defined `Family`.

    Args:
        family: "dselu", "sselu", "lselu", or a `Family` (solved by `solve_generic`).
        eps: the target phi(1) = 1 + eps (the paper's epsilon; about 1/depth, e.g. 0.017 for 56 layers).
        central: add E[f] = 0 (eq. 13).

    Raises:
        InfeasibleError: no parameters on the family's domain meet the constraints; the message gives
            the feasible range of eps where one exists.
    """
    eps = _check_eps(eps)
    if isinstance(family, Family):
        return solve_generic(family, eps, central)
    if family not in _SHAPES:
        raise ValueError(f"unknown family {family!r}; choose from {sorted(_SHAPES)} or pass a Family")
    return _solve_cached(family, eps, bool(central))


def solve_generic(
    family: Family | str, eps: float, central: bool = False, starts: int = 24, seed: int = 0
) -> Solution:
    """Solve the program for any family by SLSQP from `starts` quasi-random starting points.

    Expectations come from `moments` (closed forms where the family is exponential-linear, quadrature
    otherwise); the objective is (phi'(1) + 1)^2, which has the same minimiser as |phi'(1) + 1| and is
    smooth. The best start meeting the constraints to 1e-9 wins.
    """
    fam = FAMILIES[family] if isinstance(family, str) else family
    eps = _check_eps(eps)
    names: Sequence[str] = list(fam.bounds)
    lows = np.array([fam.bounds[n][0] for n in names])
    highs = np.array([fam.bounds[n][1] for n in names])
    if fam.lam is not None:
        lows[names.index(fam.lam)] = max(lows[names.index(fam.lam)], 1.0)

    @lru_cache(maxsize=4096)
    def cached(p: tuple[float, ...]):
        return moments(fam.build(**dict(zip(names, p))), 0.0, 1.0)

    def mom(p: np.ndarray):  # the objective and every constraint share one evaluation per point
        return cached(tuple(map(float, p)))

    cons = [
        {"type": "eq", "fun": lambda p: mom(p).df2 - (1.0 + eps)},
        {"type": "eq", "fun": lambda p: mom(p).second_moment - 1.0},
    ]
    if central:
        cons.append({"type": "eq", "fun": lambda p: mom(p).mean})
    sampler = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, bool] | None = None
    for k in range(starts):
        x0 = lows + (highs - lows) * ((k + 0.5) / starts + sampler.random(len(names)) / starts) % 1.0
        res = optimize.minimize(
            lambda p: (mom(p).df2_dvar + 1.0) ** 2,
            x0,
            method="SLSQP",
            bounds=list(zip(lows, highs)),
            constraints=cons,
            options={"ftol": 1e-15, "maxiter": 200},
        )
        ok = all(abs(c["fun"](res.x)) < _RESIDUAL_TOL for c in cons)
        if ok and (best is None or res.fun < best[0]):
            best = (float(res.fun), res.x, bool(res.success))
    if best is None:
        raise InfeasibleError(f"{fam.name}: no start met the constraints for eps={eps}")
    params = dict(zip(names, map(float, best[1])))
    return _solution(fam.name, eps, central, params, best[2], fam.lam is not None, fam.build, fam.lam)
