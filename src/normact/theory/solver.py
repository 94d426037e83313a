"""Self-normalizing parameters of the SELU family (self-normalization paper, eqs. 5, 11 and 13).

The program (eq. 11): minimise gamma = |phi'(1) + 1| over the family's parameters subject to
phi(1) = 1 + eps, E_{N(0,1)}[f^2] = 1 and lam >= lam_min (the paper's lam >= 1, and its ablation
lam >= 0.5, section 6.3); the centralised program (eq. 13) adds E[f] = 0. dSELU has two parameters and
is fixed by the two equalities alone (eq. 5).

Structure used by the built-in families. Write the negative part as an amplitude r times a shape
g_t(x) (sSELU: alpha (e^{beta x} - 1), shape t = beta, r = alpha; lSELU: r (cos t (e^x - 1) + sin t x),
so alpha = r cos t, beta = r sin t). Under N(0, 1) the positive part gives E[f^2] and phi(1) the same 1/2,
so with A_f(t) = E[g_t^2 1{x<=0}], A_phi(t) = E[g_t'^2 1{x<=0}] and rho(t) = A_phi / A_f the equalities
become, in closed form,

    lam^2 = 2 (rho - 1 - eps) / (rho - 1),      r^2 = (1/lam^2 - 1/2) / A_f,

and lam >= L <=> rho(t) >= 1 + 2 eps / (2 - L^2) (lam^2 < 2 always, as r^2 > 0). The program is a
one-dimensional minimisation over t, done on a dense grid (all closed forms, vectorised) and polished
with Brent's method, with the lam = L boundary points as candidates. The domain is the families'
natural one: alpha > 0, and beta > 0 for sSELU (a saturating exponential), beta >= 0 for lSELU (a
non-negative leak; beta = 0 is dSELU).

lSELU's t = atan(beta / alpha) lies in [0, pi/2]: the grid covers the whole domain, and the feasible eps
(below (max rho - 1) (2 - L^2) / 2) is a grid search's result. sSELU's t = beta is unbounded, and two facts of
its limit beta -> inf (A_f -> 1/2, A_phi ~ beta / (2 sqrt(2 pi)) -> inf) settle the rest:

- every eps > 0 is feasible: rho(beta) -> inf, so rho >= 1 + 2 eps at some beta;
- along the feasible curve lam -> sqrt 2, alpha -> 0 and gamma -> |1 - eps/2|: the positive part then
  contributes 0 to phi'(1) and the negative part, concentrated at x = 0 on a scale 1/beta, contributes
  -(phi(1) - 1) / 2 = -eps / 2.

So the scan extends beta by decades until the objective is within 1e-6 of that limit (its error falls as
1/beta), up to beta = 1e9 where the closed forms still resolve it. When no point on the scan beats the
limit, the infimum lies at beta -> inf and is not attained: the solution is the scan's last point, with
``converged = False`` and the reason.

`solve_generic` solves the same program for any user-defined `Family` by SLSQP from several starts, on
the general quadrature; it is the independent route the tests compare the structured solver with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from typing import NamedTuple

import numpy as np
from scipy import optimize

from normact.theory.activations import Activation, ExpLinear, get_activation
from normact.theory.closed_form import explinear_moments
from normact.theory.quantities import moments

__all__ = ["FAMILIES", "Family", "InfeasibleError", "LamMinError", "Solution", "solve", "solve_generic"]

_RESIDUAL_TOL = 1e-9


class InfeasibleError(ValueError):
    """No parameters of the family meet the constraints for the requested eps."""


class LamMinError(InfeasibleError):
    """lam_min lies outside (0, the largest lam that meets the program's equalities at this eps]."""


@dataclass(frozen=True)
class Solution:
    """The optimum of the program for one family and eps.

    Attributes:
        lam, alpha, beta: the parameters (beta is None for dSELU and for families without it).
        gamma: the objective |phi'(1) + 1| at the optimum.
        residuals: constraint residuals: phi(1) - (1 + eps), E[f^2] - 1, and E[f] (centralised only).
        converged: the residuals are below 1e-9, the optimiser reported success and the optimum is
            not on a bound of the search (an infimum at infinity, a box bound of a `Family`).
        lam_at_bound: the constraint lam >= lam_min is active.
        params: every parameter of the activation by name.
        reason: why ``converged`` is False (None when it is True).
        lam_min: the lower bound on lam the program was solved with (None for dSELU: its lam is fixed).
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
    reason: str | None = None
    lam_min: float | None = 1.0

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
        lam: the name of the parameter constrained to be >= lam_min, or None; its box's low end should
            lie below every lam_min to be asked for (`solve_generic` raises it to lam_min).
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
        {"lam": (0.1, 1.5), "alpha": (1e-3, 10.0), "beta": (1e-3, 5.0)},
    ),
    "lselu": Family(
        "lselu",
        lambda **p: get_activation("lselu", **p),
        {"lam": (0.1, 1.5), "alpha": (1e-3, 5.0), "beta": (0.0, 2.0)},
    ),
}


# --- structured solver for the built-in families -------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """A family's negative part at unit amplitude, as a function of the shape parameter t."""

    grid: np.ndarray  # the start of the scan over t
    coef: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]  # (r, t) -> a, b, c
    params: Callable[[float, float, float], dict[str, float]]  # (lam, r, t) -> named parameters
    limit: Callable[[float], float] | None = None  # eps -> gamma as t -> inf, for an unbounded t


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
        lambda eps: abs(1.0 - 0.5 * eps),
    ),
    "lselu": _Shape(
        np.linspace(0.0, 0.5 * np.pi, 3001),
        lambda r, t: (r * np.cos(t), np.ones_like(t), r * np.sin(t)),
        lambda lam, r, t: {"lam": lam, "alpha": r * math.cos(t), "beta": r * math.sin(t)},
    ),
}


class _Unit(NamedTuple):
    """A family's negative part at lam = 1 and unit amplitude on points t, under N(0, 1)."""

    t: np.ndarray
    a_f: np.ndarray  # E[g_t^2 1{x<=0}]
    a_phi: np.ndarray  # E[g_t'^2 1{x<=0}]
    m: np.ndarray  # E[g_t 1{x<=0}]
    d: np.ndarray  # its share of phi'(1); the positive part adds (E[x^2 1{x>0}] - P(x>0)) / 2 = 0


def _unit(shape: _Shape, t: np.ndarray) -> _Unit:
    t = np.asarray(t, dtype=float)
    a, b, c = shape.coef(np.ones_like(t), t)
    m = explinear_moments(ExpLinear(lam=1.0, a=a, b=b, c=c), 0.0, 1.0)
    return _Unit(t, m.second - 0.5, m.df2 - 0.5, m.mean - 1.0 / math.sqrt(2.0 * math.pi), m.df2_dvar)


@cache
def _grid(family: str, decade: int) -> _Unit:
    """``_unit`` on the family's grid (decade 0) or on its extension to 10**decade times its end.

    It does not depend on eps, so every solve of a family shares it.
    """
    shape = _SHAPES[family]
    if decade == 0:
        return _unit(shape, shape.grid)
    top = shape.grid[-1] * 10.0**decade
    return _unit(shape, np.geomspace(top / 10.0, top, 201)[1:])


def _along(u: _Unit, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lam(t), r(t) meeting phi(1) = 1 + eps and E[f^2] = 1, and the objective; NaN where infeasible.

    phi'(1) scales with the square of the negative part's amplitude lam r: it is lam^2 r^2 d(t).
    """
    rho = u.a_phi / u.a_f
    with np.errstate(invalid="ignore", divide="ignore"):
        lam2 = 2.0 * (rho - 1.0 - eps) / (rho - 1.0)
        r2 = (1.0 / lam2 - 0.5) / u.a_f
        lam, r = np.sqrt(np.where(lam2 > 0, lam2, np.nan)), np.sqrt(np.where(r2 > 0, r2, np.nan))
    return lam, r, np.abs(lam * lam * r * r * u.d + 1.0)


def _curve(shape: _Shape, t: np.ndarray | float, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _along(_unit(shape, np.atleast_1d(t)), eps)


_T_MAX = 1e9  # sSELU's beta: beyond it the closed forms lose the objective's sixth digit
_TAIL_TOL = 1e-6  # the scan stops where the objective is this close to its limit


def _scan(family: str, eps: float, lam_min: float) -> tuple[_Unit, np.ndarray, np.ndarray, np.ndarray, bool]:
    """The family's grid with lam, r and the objective on it, extended by decades for an unbounded t.

    The last value says whether the scan covers the domain: t is bounded, or the objective settled
    within 1e-6 of its limit, at a point meeting lam >= lam_min, before t passed 1e9.
    """
    shape = _SHAPES[family]
    parts = [_grid(family, 0)]
    curves = [_along(parts[0], eps)]
    covered = True
    if shape.limit is not None:
        limit = shape.limit(eps)
        while not (abs(curves[-1][2][-1] - limit) < _TAIL_TOL and curves[-1][0][-1] >= lam_min):  # NaN too
            if parts[-1].t[-1] >= _T_MAX:
                covered = False
                break
            parts.append(_grid(family, len(parts)))
            curves.append(_along(parts[-1], eps))
    unit = _Unit(*(np.concatenate(field) for field in zip(*parts, strict=True)))
    lam, r, obj = (np.concatenate(field) for field in zip(*curves, strict=True))
    return unit, lam, r, obj, covered


def _feasible_range(family: str, lam_min: float) -> str:
    """The feasible eps with lam >= lam_min (0: any lam) on the family's domain, and how it is known.

    lam >= L holds where rho >= 1 + 2 eps / (2 - L^2), so eps < (max rho - 1) (2 - L^2) / 2.
    """
    if _SHAPES[family].limit is not None:
        return "every eps > 0 is feasible (rho -> inf as beta -> inf)"
    u = _grid(family, 0)
    top = (float(np.nanmax(u.a_phi / u.a_f)) - 1.0) * (2.0 - lam_min**2) / 2.0
    how = "exact" if len(u.t) == 1 else "the largest rho on a grid over the domain"
    return f"feasible eps lie in (0, {top:.6g}) on this family's domain ({how})"


def _solve_structured(family: str, eps: float, central: bool, lam_min: float) -> Solution:
    shape = _SHAPES[family]
    unit, lam, r, obj, covered = _scan(family, eps, lam_min)
    t = unit.t
    if family == "dselu":
        if central:
            raise InfeasibleError("dselu has no centralised form: two parameters cannot meet three equations")
        if lam_min != 1.0:
            raise LamMinError(
                f"lam_min does not apply to dselu: its two equalities fix lam (got lam_min={lam_min:g}); "
                "leave it at 1 or solve sselu or lselu"
            )
        if not np.isfinite(lam[0] * r[0]):
            raise InfeasibleError(
                f"dselu: phi(1) = 1 + eps and E[f^2] = 1 have no solution for eps={eps}; "
                + _feasible_range(family, lam_min=0.0)
            )
        return _finish(family, eps, central, shape, float(lam[0]), float(r[0]), 0.0, lam_min=None)

    _check_lam_max(family, eps, lam_min, lam, obj, t, covered)
    feasible = np.isfinite(obj) & (lam >= lam_min)
    if central:
        return _solve_central(family, eps, shape, unit, lam, r, lam_min)
    # lam >= lam_min <=> rho >= 1 + 2 eps / (2 - lam_min^2); _check_lam_max has ensured lam_min^2 < 2
    rho_min = 1.0 + 2.0 * eps / (2.0 - lam_min**2)
    gap = unit.a_phi / unit.a_f - rho_min
    candidates = []

    def boundary(x: float) -> float:
        u = _unit(shape, x)
        return float(u.a_phi / u.a_f) - rho_min

    for k in np.flatnonzero(np.diff(np.sign(gap)) != 0):  # the lam = lam_min boundary points
        candidates.append(optimize.brentq(boundary, t[k], t[k + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps))
    best = int(np.nanargmin(np.where(feasible, obj, np.nan)))
    candidates.append(float(t[best]))
    lo, hi = max(best - 1, 0), min(best + 1, len(t) - 1)
    if feasible[lo] and feasible[hi]:  # an interior minimum: polish it (else the boundary point is it)
        res = optimize.minimize_scalar(
            lambda x: _feasible_objective(shape, x, eps, lam_min),
            bounds=(t[lo], t[hi]),
            method="bounded",
            options={"xatol": 1e-13},
        )
        candidates.append(float(res.x))
    gamma, t_best = min((_feasible_objective(shape, c, eps, lam_min), c) for c in candidates)
    reason = None
    if not covered:
        reason = (
            f"the objective had not settled at its limit {shape.limit(eps):.6g} by beta = {t[-1]:g}; "
            "a lower value may lie beyond"
        )
    elif shape.limit is not None and (gamma >= shape.limit(eps) or best == len(t) - 1):
        t_best = float(t[-1])
        reason = (
            f"the infimum gamma = |1 - eps/2| = {shape.limit(eps):.6g} lies at beta -> inf (lam -> sqrt 2, "
            "alpha -> 0) and no finite beta attains it; this is the scan's last point"
        )
    lam_b, r_b, _ = _curve(shape, t_best, eps)
    return _finish(
        family, eps, False, shape, float(lam_b[0]), float(r_b[0]), t_best, lam_min=lam_min, reason=reason
    )


def _check_lam_max(
    family: str, eps: float, lam_min: float, lam: np.ndarray, obj: np.ndarray, t: np.ndarray, covered: bool
) -> None:
    """Raise where no point of the scan meets lam >= lam_min > 0, saying which bound fails.

    No lam at all: eps is infeasible (`InfeasibleError`). Otherwise lam_min lies outside (0, the largest
    lam that meets the two equalities at this eps] (`LamMinError`), which the message gives.
    """
    met = np.isfinite(obj)
    if lam_min > 0 and (met & (lam >= lam_min)).any():
        return
    where = "" if covered else f" up to beta = {t[-1]:g}, as far as the closed forms resolve"
    if not met.any():
        raise InfeasibleError(
            f"{family}: no lam >= {lam_min:g} meets phi(1) = 1 + eps and E[f^2] = 1 for eps={eps}{where}; "
            + _feasible_range(family, lam_min)
        )
    how = "on a grid over the domain" if _SHAPES[family].limit is None else f"on the scan to beta = {t[-1]:g}"
    top = float(np.nanmax(np.where(met, lam, np.nan)))
    raise LamMinError(
        f"{family}: lam_min must lie in (0, {top:.6g}] at eps={eps}, got {lam_min:g}; {top:.6g} is the "
        f"largest lam that meets phi(1) = 1 + eps and E[f^2] = 1 ({how})"
    )


def _feasible_objective(shape: _Shape, t: float, eps: float, lam_min: float) -> float:
    """The objective at t, or inf where the constraints cannot be met with lam >= lam_min."""
    lam, _, obj = _curve(shape, t, eps)
    ok = np.isfinite(obj[0]) and lam[0] >= lam_min - 1e-12
    return float(obj[0]) if ok else math.inf


def _solve_central(
    family: str, eps: float, shape: _Shape, unit: _Unit, lam: np.ndarray, r: np.ndarray, lam_min: float
) -> Solution:
    """Add E[f] = 0: the amplitude is then fixed by the mean too, leaving one equation in t."""
    sqrt_2pi = math.sqrt(2.0 * math.pi)

    def mismatch(u: _Unit, r: np.ndarray) -> np.ndarray:
        r_mean = -1.0 / (sqrt_2pi * u.m)  # E[f] / lam = 1/sqrt(2 pi) + r m(t) = 0
        return (r_mean - r) / r

    def mismatch_at(x: float) -> float:
        u = _unit(shape, np.atleast_1d(x))
        return float(mismatch(u, _along(u, eps)[1])[0])

    t, f = unit.t, mismatch(unit, r)
    roots = []
    for k in np.flatnonzero(np.isfinite(f[:-1]) & np.isfinite(f[1:]) & (np.sign(f[:-1]) != np.sign(f[1:]))):
        roots.append(optimize.brentq(mismatch_at, t[k], t[k + 1], xtol=1e-15))
    scored = []
    for tr in roots:
        lam, r, obj = _curve(shape, tr, eps)
        if np.isfinite(obj[0]) and lam[0] >= lam_min:
            scored.append((float(obj[0]), tr, float(lam[0]), float(r[0])))
    if not scored:
        lams = [float(_curve(shape, tr, eps)[0][0]) for tr in roots]
        if not np.isfinite(lams).any():
            raise InfeasibleError(
                f"{family} (central): phi(1) = 1 + eps, E[f^2] = 1 and E[f] = 0 have no solution "
                f"for eps={eps}"
            )
        raise LamMinError(
            f"{family} (central): lam_min must lie in (0, {np.nanmax(lams):.6g}] at eps={eps}, "
            f"got {lam_min:g}; the equalities with E[f] = 0 fix lam to "
            + " or ".join(f"{x:.6g}" for x in lams if math.isfinite(x))
        )
    _, tr, lam, r = min(scored)
    return _finish(family, eps, True, shape, lam, r, tr, lam_min=lam_min)  # roots are interior


def _finish(
    family: str,
    eps: float,
    central: bool,
    shape: _Shape,
    lam: float,
    r: float,
    t: float,
    lam_min: float | None,
    reason: str | None = None,
) -> Solution:
    """The Solution at (lam, r, t); ``lam_min`` None where lam is not constrained (dSELU)."""
    params = shape.params(lam, r, t)
    if lam_min is not None and lam < lam_min:
        params["lam"] = lam = lam_min  # a boundary root within 1e-15 of lam_min
    return _solution(family, eps, central, params, lam_min, reason)


def _solution(
    family: str,
    eps: float,
    central: bool,
    params: dict[str, float],
    lam_min: float | None,
    reason: str | None,
    build: Callable[..., Activation] | None = None,
    lam_name: str | None = "lam",
) -> Solution:
    act = (build or (lambda **p: get_activation(family, **p)))(**params)
    m = moments(act, 0.0, 1.0)
    residuals = {"phi1": m.df2 - (1.0 + eps), "second_moment": m.second_moment - 1.0}
    if central:
        residuals["mean"] = m.mean
    lam = params.get(lam_name or "lam", math.nan)
    if reason is None and not all(abs(v) < _RESIDUAL_TOL for v in residuals.values()):
        reason = f"a constraint residual is above {_RESIDUAL_TOL:g}"
    return Solution(
        family=family,
        eps=eps,
        central=central,
        lam=float(lam),
        alpha=float(params.get("alpha", math.nan)),
        beta=float(params["beta"]) if "beta" in params else None,
        gamma=abs(m.df2_dvar + 1.0),
        residuals=residuals,
        converged=reason is None,
        lam_at_bound=bool(lam_min is not None and abs(lam - lam_min) < 1e-9),
        params=dict(params),
        reason=reason,
        lam_min=None if lam_min is None else float(lam_min),
    )


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(
            f"eps must be a finite positive number, got {eps}; at eps = 0 the only solution is "
            "lam = sqrt(2), alpha = 0 (ReLU with He scaling)"
        )
    return eps


def _check_lam_min(lam_min: float) -> float:
    """A finite lam_min; the solve checks it against (0, the largest feasible lam], which depends on eps."""
    lam_min = float(lam_min)
    if not math.isfinite(lam_min):
        raise LamMinError(f"lam_min must be a finite number in (0, the largest feasible lam], got {lam_min}")
    return lam_min


@lru_cache(maxsize=256)
def _solve_cached(family: str, eps: float, central: bool, lam_min: float) -> Solution:
    return _solve_structured(family, eps, central, lam_min)


def solve(family: str | Family, eps: float, central: bool = False, lam_min: float = 1.0) -> Solution:
    """Solve the self-normalization program for a built-in family (by name) or a user-defined `Family`.

    Args:
        family: "dselu", "sselu", "lselu", or a `Family` (solved by `solve_generic`).
        eps: the target phi(1) = 1 + eps (the paper's epsilon; about 1/depth, e.g. 0.017 for 56 layers).
        central: add E[f] = 0 (eq. 13).
        lam_min: the lower bound on lam (the paper's 1; its ablation in section 6.3 relaxes it to 0.5).
            dSELU's lam is fixed by its equalities and takes no bound.

    Raises:
        InfeasibleError: no parameters on the family's domain meet the constraints; the message gives
            the feasible range of eps, or of lam_min (0, the largest lam meeting the equalities], where
            one exists.
    """
    eps, lam_min = _check_eps(eps), _check_lam_min(lam_min)
    if isinstance(family, Family):
        return solve_generic(family, eps, central, lam_min=lam_min)
    if family not in _SHAPES:
        raise ValueError(f"unknown family {family!r}; choose from {sorted(_SHAPES)} or pass a Family")
    return _solve_cached(family, eps, bool(central), lam_min)


def solve_generic(
    family: Family | str,
    eps: float,
    central: bool = False,
    starts: int = 24,
    seed: int = 0,
    lam_min: float = 1.0,
) -> Solution:
    """Solve the program for any family by SLSQP from `starts` quasi-random starting points.

    Expectations come from `moments` (closed forms where the family is exponential-linear, quadrature
    otherwise); the objective is (phi'(1) + 1)^2, which has the same minimiser as |phi'(1) + 1| and is
    smooth. The best start meeting the constraints to 1e-9 wins; it has not converged when SLSQP did
    not report success or a parameter sits on its box bound (other than lam = lam_min, the constraint).
    """
    fam = FAMILIES[family] if isinstance(family, str) else family
    eps, lam_min = _check_eps(eps), _check_lam_min(lam_min)
    if not lam_min > 0:
        raise LamMinError(f"lam_min must be positive, got {lam_min:g}")
    names: Sequence[str] = list(fam.bounds)
    lows = np.array([fam.bounds[n][0] for n in names])
    highs = np.array([fam.bounds[n][1] for n in names])
    if fam.lam is not None:
        lows[names.index(fam.lam)] = max(lows[names.index(fam.lam)], lam_min)

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
    reason = None if best[2] else "SLSQP did not report success"
    for name, low, high in zip(names, lows, highs):
        value = params[name]
        on = [
            b
            for b in (low, high)
            if abs(value - b) <= 1e-9 * max(1.0, abs(b)) and (name, b) != (fam.lam, lam_min)
        ]
        if on and reason is None:
            reason = f"{name} = {value:.6g} sits on its search bound {on[0]:g}; widen Family.bounds"
    return _solution(
        fam.name, eps, central, params, lam_min if fam.lam is not None else None, reason, fam.build, fam.lam
    )
