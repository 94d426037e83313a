"""Statistics of a study's runs: confidence intervals, epochs to a threshold, and the tests of the verdicts.

Every function takes plain sequences of numbers (one value per run) and returns plain numbers, so a
preset's analysis is numpy in, numbers out. Conventions:

- Intervals are two-sided at ``level`` (default 95 %). The mean's interval is Student's t; the
  median's is the distribution-free order-statistic interval, whose exact coverage is returned with it
  (with n <= 5 no such interval reaches 95 %: the widest one, [min, max], covers 1 - 2^(1-n)).
- Tests are one-sided; ``alternative="less"`` asks whether the first sample tends to be smaller.
  Values may be ``inf`` (e.g. "never reached the threshold", a right-censored time): rank tests put
  them last, tied with each other. NaN is an error.
- Sample sizes for inconclusive comparisons take the observed effect as the true one and ask for
  ``power`` at ``alpha`` one-sided: exact for Fisher's test, the textbook normal approximations
  (Noether; Bonett & Wright) for the rank tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = [
    "Interval",
    "first_epoch_reaching",
    "fisher_exact",
    "fisher_power",
    "mean_ci",
    "median_ci",
    "midranks",
    "n_for_correlation",
    "n_for_fisher",
    "n_for_rank_sum",
    "n_under_until",
    "probability_of_superiority",
    "rank_sum_test",
    "spearman",
]

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval and the interval's coverage."""

    estimate: float
    low: float
    high: float
    coverage: float  # the nominal level (t interval) or the exact coverage (order statistics)


def _values(x: ArrayLike, name: str = "x") -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if np.isnan(a).any():
        raise ValueError(f"{name} holds NaN; drop missing runs before computing statistics")
    return a


def mean_ci(x: ArrayLike, level: float = 0.95) -> Interval:
    """Mean with Student's t interval ``mean +- t_{(1+level)/2, n-1} s / sqrt(n)`` (NaN bounds for n < 2)."""
    a = _values(x)
    if a.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(a.mean())
    if a.size < 2 or not np.isfinite(a).all():
        return Interval(mean, math.nan, math.nan, level)
    half = float(sps.t.ppf((1 + level) / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size))
    return Interval(mean, mean - half, mean + half, level)


def median_ci(x: ArrayLike, level: float = 0.95) -> Interval:
    """Median with the order-statistic interval ``[x_(k), x_(n+1-k)]`` of coverage at least ``level``.

    ``k`` is the largest rank with ``P(k <= B <= n - k) >= level`` for ``B ~ Binomial(n, 1/2)``, the
    number of values below the true median; the coverage ``1 - 2 P(B <= k - 1)`` holds for any
    continuous distribution. When even ``k = 1`` falls short (n <= 5 at 95 %) the interval is
    ``[min, max]`` and ``coverage`` says how much it covers.
    """
    a = np.sort(_values(x))
    n = a.size
    if n == 0:
        raise ValueError("median_ci needs at least one value")
    median = float(np.median(a))
    k = 1
    while k + 1 <= n // 2 and 1 - 2 * sps.binom.cdf(k, n, 0.5) >= level:
        k += 1
    coverage = float(1 - 2 * sps.binom.cdf(k - 1, n, 0.5))
    return Interval(median, float(a[k - 1]), float(a[n - k]), coverage)


def first_epoch_reaching(accuracy: ArrayLike, threshold: float) -> float:
    """The first epoch (counting from 1) whose value is ``>= threshold``; ``inf`` if none is.

    NaN entries (epochs a run did not reach, e.g. after divergence) never count as reaching.
    """
    a = np.asarray(accuracy, dtype=np.float64).ravel()
    hits = np.flatnonzero(a >= threshold)
    return float(hits[0] + 1) if hits.size else math.inf


def n_under_until(first_epochs: ArrayLike, epoch: int) -> int:
    """How many runs had not reached the threshold by ``epoch`` (first epoch later, or never)."""
    return int(np.sum(np.asarray(first_epochs, dtype=np.float64) > epoch))


def midranks(x: ArrayLike) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (``inf`` ranks last)."""
    return sps.rankdata(_values(x), method="average")


def rank_sum_test(a: ArrayLike, b: ArrayLike, alternative: str = "less") -> float:
    """Exact one-sided p-value of the Wilcoxon-Mann-Whitney rank-sum test, ties included.

    The null distribution is the exact permutation distribution of the rank sum of ``a`` given the
    pooled midranks (every split of the pooled values into groups of sizes ``len(a)``, ``len(b)``
    equally likely), counted by dynamic programming over doubled midranks, so ties need no normal
    approximation. ``"less"``: ``a`` tends to be smaller than ``b``; ``"greater"``: larger.
    """
    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative must be 'less' or 'greater', got {alternative!r}")
    a, b = _values(a, "a"), _values(b, "b")
    m, n = a.size, b.size
    if m == 0 or n == 0:
        raise ValueError("rank_sum_test needs two non-empty samples")
    ranks2 = np.rint(2 * midranks(np.concatenate([a, b]))).astype(np.int64)  # doubled: integers
    observed = int(ranks2[:m].sum())
    total = int(ranks2.sum())
    # counts[k, s]: number of k-subsets of the items seen so far with doubled rank sum s (float: no overflow)
    counts = np.zeros((m + 1, total + 1))
    counts[0, 0] = 1.0
    for r in ranks2:
        counts[1:, r:] += counts[:-1, : total + 1 - r].copy()
    dist = counts[m] / counts[m].sum()  # the sum is C(m + n, m)
    tail = dist[: observed + 1].sum() if alternative == "less" else dist[observed:].sum()
    return float(min(1.0, tail))


def probability_of_superiority(a: ArrayLike, b: ArrayLike) -> float:
    """``P(A < B) + P(A = B) / 2`` over all pairs, the effect size of the rank-sum test ("less")."""
    a, b = _values(a, "a"), _values(b, "b")
    less = (a[:, None] < b[None, :]).mean()
    ties = (a[:, None] == b[None, :]).mean()
    return float(less + ties / 2)


def fisher_exact(k_a: int, n_a: int, k_b: int, n_b: int, alternative: str = "less") -> float:
    """One-sided Fisher's exact test of ``k_a / n_a`` against ``k_b / n_b`` (e.g. failed runs per group).

    ``p = P(K <= k_a)`` (``"less"``: group a has the lower rate) or ``P(K >= k_a)`` (``"greater"``),
    ``K`` hypergeometric: ``k_a + k_b`` events among ``n_a + n_b`` runs, ``n_a`` of them in group a.
    """
    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative must be 'less' or 'greater', got {alternative!r}")
    if not (0 <= k_a <= n_a and 0 <= k_b <= n_b):
        raise ValueError(f"counts must satisfy 0 <= k <= n, got {k_a}/{n_a} and {k_b}/{n_b}")
    k = k_a + k_b
    lo, hi = max(0, k - n_b), min(k, n_a)
    weights = {i: math.comb(n_a, i) * math.comb(n_b, k - i) for i in range(lo, hi + 1)}
    total = sum(weights.values())
    tail = [w for i, w in weights.items() if (i <= k_a if alternative == "less" else i >= k_a)]
    return sum(tail) / total


def spearman(x: ArrayLike, y: ArrayLike) -> tuple[float, float, float]:
    """Spearman's rank correlation with one-sided p-values ``(rho, p_greater, p_less)``.

    ``rho`` is Pearson's correlation of the midranks; the p-values use ``t = rho sqrt((n - 2) / (1 -
    rho^2))`` with n - 2 degrees of freedom (as ``scipy.stats.spearmanr``). A constant sample has no
    correlation: ``(nan, 1, 1)``.
    """
    rx, ry = midranks(x), midranks(y)
    n = rx.size
    if n != ry.size:
        raise ValueError(f"spearman needs paired samples, got {n} and {ry.size} values")
    if n < 3:
        raise ValueError(f"spearman needs at least 3 pairs, got {n}")
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float((dx * dx).sum() * (dy * dy).sum()))
    if denom == 0:
        return math.nan, 1.0, 1.0
    rho = float((dx * dy).sum() / denom)
    if abs(rho) >= 1:
        return rho, float(rho < 0), float(rho > 0)
    t = rho * math.sqrt((n - 2) / (1 - rho * rho))
    return rho, float(sps.t.sf(t, n - 2)), float(sps.t.cdf(t, n - 2))


def _z_sum(alpha: float, power: float) -> float:
    return float(sps.norm.ppf(1 - alpha) + sps.norm.ppf(power))


def n_for_rank_sum(p_superiority: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Runs per group for the rank-sum test (Noether 1987): ``(z_a + z_b)^2 / (6 (p - 1/2)^2)``.

    ``p_superiority`` is :func:`probability_of_superiority` in the tested direction; ``inf`` when it is
    1/2 (no effect) or below (the effect points the other way).
    """
    if p_superiority <= 0.5:
        return math.inf
    return _z_sum(alpha, power) ** 2 / (6 * (p_superiority - 0.5) ** 2)


def fisher_power(rate_a: float, rate_b: float, n: int, alpha: float = 0.05) -> float:
    """Power of the one-sided Fisher test (``"less"``) with ``n`` runs per group and true rates
    ``rate_a``, ``rate_b``: the probability over both binomial counts that ``p < alpha``."""
    k = np.arange(n + 1)
    ka, kb = k[:, None], k[None, :]
    p = sps.hypergeom.cdf(ka, 2 * n, ka + kb, n)  # P(K <= k_a), as fisher_exact(..., "less")
    weight = sps.binom.pmf(ka, n, rate_a) * sps.binom.pmf(kb, n, rate_b)
    return float(weight[p < alpha].sum())


def n_for_fisher(
    rate_a: float, rate_b: float, alpha: float = 0.05, power: float = 0.8, max_n: int = 1000
) -> float:
    """Runs per group for the one-sided Fisher test to show ``rate_a < rate_b`` with ``power``.

    Exact: the smallest n (every n up to 60, then steps of 5 %) whose :func:`fisher_power` reaches
    ``power``; ``inf`` when ``rate_a >= rate_b``, ``max_n + 1`` when no n up to ``max_n`` does.
    """
    if rate_a >= rate_b:
        return math.inf
    n = 2
    while n <= max_n:
        if fisher_power(rate_a, rate_b, n, alpha) >= power:
            return float(n)
        n = n + 1 if n < 60 else math.ceil(n * 1.05)
    return float(max_n + 1)


def n_for_correlation(rho: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Pairs needed to show a positive Spearman correlation ``rho`` (Bonett & Wright 2000):
    ``3 + (1 + rho^2 / 2) ((z_a + z_b) / atanh(rho))^2``; ``inf`` when ``rho <= 0`` or NaN."""
    if not rho > 0:
        return math.inf
    if rho >= 1:
        return 3.0
    return 3 + (1 + rho * rho / 2) * (_z_sum(alpha, power) / math.atanh(rho)) ** 2
