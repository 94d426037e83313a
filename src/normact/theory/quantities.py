"""The papers' quantities of an activation under a Gaussian input, computed exactly.

ANAct (Yuan et al.): rho = Var[f] / s^2 (appendix eq. 31), rho' = E[f'^2] (eq. 6), lambda (eq. 13/32) and
the R score (eq. 19). Self-normalization paper (001): phi(q) (eq. 6), 1 + delta_q (eq. 2), gamma (Prop. 3.1)
and Definition 2. Bounded-activation paper (002): saturation and skewness. GPN gain (Lu et al., 2020) and
NormProp's constants (Arpit et al., 2016).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from normact.theory.activations import Activation, get_activation
from normact.theory.closed_form import explinear_moments
from normact.theory.gaussian import TAIL_Z, expect, std_normal_cdf

__all__ = [
    "Moments",
    "Quantities",
    "SelfNormalizationCheck",
    "delta",
    "dphi",
    "frac_positive",
    "gamma",
    "gpn_gain",
    "moments",
    "normprop_constants",
    "phi",
    "quantities",
    "r_score",
    "self_normalization_check",
]


@dataclass(frozen=True)
class Moments:
    """Raw ingredients: E[f], Var[f], third central moment, E[f'^2] and its derivative in the variance."""

    mean: float
    var: float
    third_central: float
    df2: float
    df2_dvar: float

    @property
    def second_moment(self) -> float:
        return self.var + self.mean**2


def _zero_crossings(act: Activation, mean: float, std: float) -> np.ndarray:
    """Points in mean +- TAIL_Z std where f changes between > 0 and <= 0, to machine precision."""
    z = np.linspace(-TAIL_Z, TAIL_Z, 4097)
    x = mean + std * z
    pos = act.f(x) > 0
    idx = np.flatnonzero(pos[1:] != pos[:-1])
    lo, hi = x[idx], x[idx + 1]
    left_pos = pos[idx]
    for _ in range(80):  # bisect the predicate f > 0: exact boundary even where f is flat zero (ReLU)
        mid = 0.5 * (lo + hi)
        same = (act.f(mid) > 0) == left_pos
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    return 0.5 * (lo + hi)


def moments(act: Activation | str, mean: float = 0.0, std: float = 1.0) -> Moments:
    """Moments of f(x) and f'(x) for x ~ N(mean, std^2): closed form where one exists, else quadrature."""
    act = get_activation(act)
    _check_gaussian(mean, std)
    if act.explinear is not None and std > 0:
        m = explinear_moments(act.explinear, mean, std)
        mu, second, third = float(m.mean), float(m.second), float(m.third)
        var = max(second - mu * mu, 0.0)
        return Moments(mu, var, third - 3 * mu * second + 2 * mu**3, float(m.df2), float(m.df2_dvar))
    if std == 0:
        x = np.array([float(mean)])
        return Moments(float(act.f(x)[0]), 0.0, 0.0, float(act.df(x)[0] ** 2), math.nan)
    s2 = std * std

    def first(x: np.ndarray) -> np.ndarray:
        d2 = act.df(x) ** 2
        return np.stack([act.f(x), d2, d2 * ((x - mean) ** 2 - s2) / (2 * s2 * s2)])

    mu, df2, df2_dvar = expect(first, mean, std, breakpoints=act.kinks)

    def central(x: np.ndarray) -> np.ndarray:
        d = act.f(x) - mu
        return np.stack([d * d, d * d * d])

    var, third = expect(central, mean, std, breakpoints=act.kinks)
    return Moments(float(mu), float(var), float(third), float(df2), float(df2_dvar))


def _check_gaussian(mean: float, std: float) -> None:
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise ValueError(f"need a finite mean and a finite std >= 0, got mean={mean}, std={std}")


def _check_q(q: float) -> float:
    q = float(q)
    if not (math.isfinite(q) and q > 0):
        raise ValueError(f"q (the input's second moment) must be a finite positive number, got {q}")
    return q


def phi(act: Activation | str, q: float = 1.0) -> float:
    """phi(q) = E_{x ~ N(0, q)}[f'(x)^2] (self-normalization paper, eq. 6)."""
    return moments(act, 0.0, math.sqrt(_check_q(q))).df2


def dphi(act: Activation | str, q: float = 1.0) -> float:
    """d phi / dq, exactly: E[f'(x)^2 (x^2 - q)] / (2 q^2), by differentiating the Gaussian density."""
    return moments(act, 0.0, math.sqrt(_check_q(q))).df2_dvar


def delta(act: Activation | str, q: float = 1.0) -> float:
    """delta_q with 1 + delta_q = q phi(q) / E_{N(0, q)}[f^2] (self-normalization paper, eq. 2)."""
    m = moments(act, 0.0, math.sqrt(_check_q(q)))
    return q * m.df2 / m.second_moment - 1.0


def gamma(act: Activation | str, q: float = 1.0) -> float:
    """gamma_q = |q phi'(q) + 1|; at q = 1 this is the paper's |phi'(1) + 1| (Prop. 3.1).

    For q != 1 it is the gamma of the same activation with its input rescaled so that q maps to 1
    (phi of x -> f(c x)/c at 1 is phi(c^2), so its derivative there is c^2 phi'(c^2)).
    """
    return abs(q * dphi(act, q) + 1.0)


def r_score(act: Activation | str, std: float = 1.0, mean: float = 0.0) -> float:
    """ANAct's R score ln(Var[f] / (s^2 E[f'^2])) (eq. 19; eq. 20 carries a stray factor)."""
    m = moments(act, mean, std)
    if std <= 0 or m.var <= 0 or m.df2 <= 0:
        return math.nan
    return math.log(m.var / (std * std * m.df2))


def frac_positive(act: Activation | str, mean: float = 0.0, std: float = 1.0) -> float:
    """P(f(x) > 0) for x ~ N(mean, std^2)."""
    act = get_activation(act)
    _check_gaussian(mean, std)
    if std == 0:
        return float(act.f(np.array([float(mean)]))[0] > 0)
    crossings = _zero_crossings(act, mean, std)
    probs = np.diff(std_normal_cdf(np.concatenate([[-np.inf], (crossings - mean) / std, [np.inf]])))
    ends = np.concatenate([[mean - TAIL_Z * std], crossings, [mean + TAIL_Z * std]])
    return float(np.sum(probs[act.f(0.5 * (ends[:-1] + ends[1:])) > 0]))


def _saturation(act: Activation, mean: float, std: float) -> float | None:
    """E|f| / asymptote for bounded activations (002's layer saturation); None when unbounded."""
    if act.asymptote is None:
        return None
    if std == 0:
        return float(abs(act.f(np.array([float(mean)]))[0]) / act.asymptote)
    kinks = (*act.kinks, *_zero_crossings(act, mean, std))
    return float(expect(lambda x: np.abs(act.f(x)), mean, std, breakpoints=kinks)) / act.asymptote


def gpn_gain(act: Activation | str, std: float = 1.0, mean: float = 0.0) -> float:
    """The constant g with E[(g f(x))^2] = E[x^2] (the GPN baselines of ANAct; Lu et al., 2020)."""
    m = moments(act, mean, std)
    if m.second_moment <= 0:
        raise ValueError("gpn_gain: E[f(x)^2] is 0, no gain can restore the second moment")
    return math.sqrt((mean * mean + std * std) / m.second_moment)


def normprop_constants() -> tuple[float, float]:
    """Mean and standard deviation of ReLU(z), z ~ N(0, 1): 1/sqrt(2 pi) and sqrt(1/2 - 1/(2 pi))."""
    m = moments("relu", 0.0, 1.0)
    return m.mean, math.sqrt(m.var)


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class Quantities:
    """Every quantity of an activation at x ~ N(mean_in, std_in^2); None where it is undefined.

    phi, delta and gamma are taken at q = std_in^2 with mean 0, as the self-normalization paper defines them.
    """

    activation: str
    params: dict[str, float]
    mean_in: float
    std_in: float
    mean: float
    var: float
    second_moment: float
    rho: float | None
    rho_prime: float
    lam: float | None
    R: float | None
    skewness: float | None
    saturation: float | None
    frac_positive: float
    phi: float | None
    delta: float | None
    gamma: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def quantities(act: Activation | str, mean: float = 0.0, std: float = 1.0) -> Quantities:
    """All the papers' quantities of `act` for an input x ~ N(mean, std^2)."""
    act = get_activation(act)
    m = moments(act, mean, std)
    s2 = std * std
    rho = m.var / s2 if std > 0 else math.nan
    rho_p = m.df2
    lam = math.sqrt((rho + rho_p) / (2 * rho * rho_p)) if rho > 0 and rho_p > 0 else math.nan
    r = math.log(rho / rho_p) if rho > 0 and rho_p > 0 else math.nan
    skew = m.third_central / m.var**1.5 if m.var > 1e-300 else math.nan
    if std > 0:
        at_q = m if mean == 0 else moments(act, 0.0, std)
        phi_q = at_q.df2
        delta_q = s2 * phi_q / at_q.second_moment - 1.0 if at_q.second_moment > 0 else math.nan
        gamma_q = abs(s2 * at_q.df2_dvar + 1.0)
    else:
        phi_q = delta_q = gamma_q = math.nan
    return Quantities(
        activation=act.name,
        params=dict(act.params),
        mean_in=float(mean),
        std_in=float(std),
        mean=m.mean,
        var=m.var,
        second_moment=m.second_moment,
        rho=_finite_or_none(rho),
        rho_prime=rho_p,
        lam=_finite_or_none(lam),
        R=_finite_or_none(r),
        skewness=_finite_or_none(skew),
        saturation=_saturation(act, mean, std),
        frac_positive=frac_positive(act, mean, std),
        phi=_finite_or_none(phi_q),
        delta=_finite_or_none(delta_q),
        gamma=_finite_or_none(gamma_q),
    )


@dataclass(frozen=True)
class SelfNormalizationCheck:
    """Definition 2 of the self-normalization paper, checked on a grid of q.

    eps = phi(1) - 1 and second_moment = E_{N(0,1)}[f^2] (which Definition 2 wants to be 1);
    violations lists the (q_low, q_high) intervals of the grid where
    min(1, 1/q) < phi(q) < max(1, 1/q) fails. With eps > 0 the bound necessarily fails just above q = 1,
    where phi falls from 1 + eps to 1: the width of that interval measures the distance from the ideal.
    """

    eps: float
    second_moment: float
    q: np.ndarray
    phi: np.ndarray
    violations: list[tuple[float, float]]

    @property
    def holds(self) -> bool:
        return not self.violations


def self_normalization_check(
    act: Activation | str, q_min: float = 0.05, q_max: float = 20.0, num: int = 400
) -> SelfNormalizationCheck:
    """Check Definition 2 (garbled eq. 7, as SEED-NOTES reads it) for q on a log grid."""
    act = get_activation(act)
    if not (0 < q_min < 1 < q_max) or num < 3:
        raise ValueError(f"need 0 < q_min < 1 < q_max and num >= 3, got {q_min}, {q_max}, {num}")
    qs = np.geomspace(q_min, q_max, num)
    qs = qs[np.abs(qs - 1.0) > 1e-12]
    phis = np.array([phi(act, float(q)) for q in qs])
    ok = (phis > np.minimum(1.0, 1.0 / qs)) & (phis < np.maximum(1.0, 1.0 / qs))
    # Runs of consecutive failing grid points, as (first q, last q) intervals.
    flips = np.flatnonzero(np.diff(np.concatenate([[0], (~ok).astype(int), [0]])))
    violations = [(float(qs[i]), float(qs[j - 1])) for i, j in zip(flips[::2], flips[1::2])]
    base = moments(act, 0.0, 1.0)
    return SelfNormalizationCheck(base.df2 - 1.0, base.second_moment, qs, phis, violations)
