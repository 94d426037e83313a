"""Closed-form Gaussian moments of the exponential-linear family (ReLU, leaky ReLU, ELU, the SELU family).

For x ~ N(m, s^2) and f(x) = lam x (x > 0), lam (a (e^{bx} - 1) + c x) (x <= 0), every moment needed here
is a finite sum of truncated integrals E[x^i e^{j b x} 1{x <= 0}] and E[x^i 1{x > 0}], each a normal
CDF/PDF expression (`gaussian.truncated_exp_moments`). Coefficients may be numpy arrays (broadcast
together), so the solver evaluates whole parameter grids at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from normact.theory.activations import ExpLinear
from normact.theory.gaussian import truncated_exp_moments

__all__ = ["ExpLinearMoments", "explinear_moments"]

# A polynomial-exponential term x^i e^{j b x} is keyed (i, j); a dict maps keys to coefficients.
Terms = dict[tuple[int, int], np.ndarray]


def _mul(p: Terms, q: Terms) -> Terms:
    out: Terms = {}
    for (i1, j1), c1 in p.items():
        for (i2, j2), c2 in q.items():
            key = (i1 + i2, j1 + j2)
            out[key] = out.get(key, 0.0) + c1 * c2
    return out


@dataclass(frozen=True)
class ExpLinearMoments:
    """Moments of f(x) and f'(x) for x ~ N(mean, std^2).

    Attributes:
        mean, second, third: E[f], E[f^2], E[f^3].
        df2: E[f'(x)^2].
        df2_dvar: d/d(std^2) of E[f'(x)^2] at fixed mean, = E[f'^2 ((x - m)^2 - s^2)] / (2 s^4).
        p_positive: P(x > 0).
    """

    mean: np.ndarray
    second: np.ndarray
    third: np.ndarray
    df2: np.ndarray
    df2_dvar: np.ndarray
    p_positive: np.ndarray


def explinear_moments(coef: ExpLinear, mean: float, std: float) -> ExpLinearMoments:
    """Closed-form moments of an exponential-linear activation under N(mean, std^2), std > 0."""
    lam, a, b, c = (np.asarray(v, dtype=float) for v in (coef.lam, coef.a, coef.b, coef.c))
    m, s = float(mean), float(std)
    f_neg: Terms = {(0, 1): lam * a, (0, 0): -lam * a, (1, 0): lam * c}
    df_neg: Terms = {(0, 1): lam * a * b, (0, 0): lam * c}
    centred_sq: Terms = {(2, 0): np.asarray(1.0), (1, 0): np.asarray(-2.0 * m), (0, 0): np.asarray(m * m)}
    f2 = _mul(f_neg, f_neg)
    df2 = _mul(df_neg, df_neg)
    integrands = {"mean": f_neg, "second": f2, "third": _mul(f2, f_neg), "df2": df2}
    integrands["df2_centred"] = _mul(df2, centred_sq)

    # T[j][i] = E[x^i e^{j b x} 1{x <= 0}]; U[i] = E[x^i 1{x > 0}].
    order = max(i for terms in integrands.values() for i, _ in terms)
    top_j = max(j for terms in integrands.values() for _, j in terms)
    js = np.arange(top_j + 1).reshape(-1, *([1] * b.ndim))
    tilts = np.moveaxis(truncated_exp_moments(js * b, m, s, order), 1, 0)  # (j, i, ...)
    upper = truncated_exp_moments(0.0, m, s, 3, upper=True)

    def neg(terms: Terms) -> np.ndarray:
        return sum(coeff * tilts[j][i] for (i, j), coeff in terms.items())

    df2_centred = neg(integrands["df2_centred"]) + lam**2 * (upper[2] - 2 * m * upper[1] + m * m * upper[0])
    return ExpLinearMoments(
        mean=neg(integrands["mean"]) + lam * upper[1],
        second=neg(integrands["second"]) + lam**2 * upper[2],
        third=neg(integrands["third"]) + lam**3 * upper[3],
        df2=neg(integrands["df2"]) + lam**2 * upper[0],
        df2_dvar=(df2_centred - s * s * (neg(integrands["df2"]) + lam**2 * upper[0])) / (2 * s**4),
        p_positive=upper[0],
    )
