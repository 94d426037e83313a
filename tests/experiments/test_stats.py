import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from normact.experiments import stats


def test_mean_ci_is_students_t_interval():
    x = np.random.default_rng(0).normal(3.0, 2.0, 7)
    got = stats.mean_ci(x, 0.95)
    low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (got.estimate, got.low, got.high, got.coverage) == pytest.approx((x.mean(), low, high, 0.95))
    one = stats.mean_ci([0.5])
    assert one.estimate == 0.5 and math.isnan(one.low) and math.isnan(one.high)
    with pytest.raises(ValueError, match="NaN"):
        stats.mean_ci([1.0, math.nan])


def _brute_median_rank(n: int, level: float) -> tuple[int, float]:
    """Largest k with P(k <= B <= n - k) >= level, B ~ Bin(n, 1/2), by summing the binomial weights."""
    best = (1, sum(math.comb(n, b) for b in range(1, n)) / 2**n)
    for k in range(1, n // 2 + 1):
        cover = sum(math.comb(n, b) for b in range(k, n - k + 1)) / 2**n
        if cover >= level:
            best = (k, cover)
    return best


@pytest.mark.parametrize("n", [3, 5, 6, 9, 10, 25, 40])
def test_median_ci_order_statistics_against_binomial_sums(n):
    x = np.random.default_rng(n).normal(size=n)
    got = stats.median_ci(x, 0.95)
    k, cover = _brute_median_rank(n, 0.95)
    xs = np.sort(x)
    assert got.estimate == pytest.approx(np.median(x))
    assert (got.low, got.high) == (xs[k - 1], xs[n - k])
    assert got.coverage == pytest.approx(cover)
    if n <= 5:  # no interval reaches 95 %: [min, max] with its exact coverage
        assert (got.low, got.high, got.coverage) == (xs[0], xs[-1], pytest.approx(1 - 2 ** (1 - n)))
    else:
        assert got.coverage >= 0.95


def test_median_ci_covers_at_its_stated_rate():
    rng = np.random.default_rng(1)
    draws = rng.exponential(size=(4000, 9))  # true median ln 2
    hits = [(ci.low <= math.log(2) <= ci.high) for ci in map(stats.median_ci, draws)]
    coverage = stats.median_ci(draws[0]).coverage
    assert np.mean(hits) == pytest.approx(coverage, abs=4 * math.sqrt(coverage * (1 - coverage) / 4000))


def test_epochs_to_threshold_and_counts_under_it():
    acc = [0.5, 0.7, math.nan, 0.91, 0.89, 0.95]
    assert stats.first_epoch_reaching(acc, 0.9) == 4
    assert stats.first_epoch_reaching(acc, 0.7) == 2  # reaching means >= threshold
    assert stats.first_epoch_reaching(acc, 0.99) == math.inf
    assert stats.first_epoch_reaching([math.nan, math.nan], 0.1) == math.inf
    first = [1, 4, math.inf, 2, 4]
    assert [stats.n_under_until(first, e) for e in (1, 2, 3, 4, 10)] == [4, 3, 3, 1, 1]


def _brute_rank_sum(a, b, alternative):
    """The permutation p-value by listing every split of the pooled midranks."""
    ranks = sps.rankdata(np.concatenate([a, b]))
    observed = ranks[: len(a)].sum()
    sums = [ranks[list(idx)].sum() for idx in itertools.combinations(range(len(ranks)), len(a))]
    sums = np.array(sums)
    tail = sums <= observed + 1e-9 if alternative == "less" else sums >= observed - 1e-9
    return tail.mean()


@pytest.mark.parametrize("alternative", ["less", "greater"])
def test_rank_sum_without_ties_is_scipys_exact_mann_whitney(alternative):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=6), rng.normal(0.8, size=7)
    expected = sps.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue
    assert stats.rank_sum_test(a, b, alternative) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("alternative", ["less", "greater"])
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1, 2, 2, 3, math.inf], [2, 4, math.inf, math.inf, math.inf]),  # censored runs tie at the end
        ([3, 3, 3, 3], [3, 3, 3]),  # all tied: p = 1 both ways
        ([1, 1, 2], [5, 6, 7, 8]),
        ([9, 9, 10, 12, 12, 12], [1, 2, 2, 9, 12]),
    ],
)
def test_rank_sum_with_ties_and_infinity_by_enumeration(a, b, alternative):
    assert stats.rank_sum_test(a, b, alternative) == pytest.approx(
        _brute_rank_sum(a, b, alternative), rel=1e-12
    )


def test_rank_sum_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        stats.rank_sum_test([1, math.nan], [2, 3])
    with pytest.raises(ValueError, match="alternative"):
        stats.rank_sum_test([1], [2], "two-sided")
    with pytest.raises(ValueError, match="non-empty"):
        stats.rank_sum_test([], [2])


def test_probability_of_superiority_by_pairs():
    a, b = [1, 2, math.inf], [2, math.inf]
    pairs = [(x < y) + 0.5 * (x == y) for x in a for y in b]
    assert stats.probability_of_superiority(a, b) == pytest.approx(np.mean(pairs))


@pytest.mark.parametrize("alternative", ["less", "greater"])
@pytest.mark.parametrize(
    ("k_a", "n_a", "k_b", "n_b"), [(0, 5, 5, 5), (1, 5, 3, 5), (3, 25, 11, 25), (4, 4, 0, 6), (0, 3, 0, 3)]
)
def test_fisher_exact_is_scipys(k_a, n_a, k_b, n_b, alternative):
    table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
    expected = sps.fisher_exact(table, alternative=alternative).pvalue
    assert stats.fisher_exact(k_a, n_a, k_b, n_b, alternative) == pytest.approx(expected, rel=1e-10)


def test_fisher_exact_rejects_impossible_counts():
    with pytest.raises(ValueError, match="0 <= k <= n"):
        stats.fisher_exact(6, 5, 0, 5)


@pytest.mark.parametrize("seed", [3, 4])
def test_spearman_is_scipys(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, 30).astype(float)  # ties
    y = x + rng.normal(0, 2, 30)
    rho, p_greater, p_less = stats.spearman(x, y)
    assert rho == pytest.approx(sps.spearmanr(x, y).statistic)
    assert p_greater == pytest.approx(sps.spearmanr(x, y, alternative="greater").pvalue)
    assert p_less == pytest.approx(sps.spearmanr(x, y, alternative="less").pvalue)


def test_spearman_edge_cases():
    assert stats.spearman([1, 2, 3], [1, 2, math.inf]) == (1.0, 0.0, 1.0)  # infinity ranks last
    rho, p_greater, p_less = stats.spearman([1, 1, 1], [1, 2, 3])
    assert math.isnan(rho) and p_greater == p_less == 1.0
    with pytest.raises(ValueError, match="paired"):
        stats.spearman([1, 2, 3], [1, 2])


def _brute_fisher_power(rate_a, rate_b, n, alpha):
    return sum(
        sps.binom.pmf(ka, n, rate_a) * sps.binom.pmf(kb, n, rate_b)
        for ka in range(n + 1)
        for kb in range(n + 1)
        if stats.fisher_exact(ka, n, kb, n) < alpha
    )


@pytest.mark.parametrize(("rate_a", "rate_b"), [(0.0, 0.44), (0.1, 0.6), (0.2, 1.0)])
def test_fisher_sample_size_is_the_smallest_with_enough_power(rate_a, rate_b):
    n = int(stats.n_for_fisher(rate_a, rate_b))
    assert _brute_fisher_power(rate_a, rate_b, n, 0.05) >= 0.8
    assert _brute_fisher_power(rate_a, rate_b, n - 1, 0.05) < 0.8
    assert stats.fisher_power(rate_a, rate_b, n) == pytest.approx(
        _brute_fisher_power(rate_a, rate_b, n, 0.05)
    )
    assert stats.n_for_fisher(0.3, 0.3) == math.inf
    assert stats.n_for_fisher(0.3, 0.31, max_n=50) == 51


def test_rank_sum_sample_size_gives_its_power():
    # shifted normals: P(A < B) = Phi(d / sqrt 2); simulate the test at Noether's n
    rng = np.random.default_rng(5)
    d = 0.8
    n = math.ceil(stats.n_for_rank_sum(sps.norm.cdf(d / math.sqrt(2))))
    rejections = [
        sps.mannwhitneyu(rng.normal(size=n), rng.normal(d, size=n), alternative="less").pvalue < 0.05
        for _ in range(400)
    ]
    assert np.mean(rejections) == pytest.approx(0.8, abs=0.08)
    assert stats.n_for_rank_sum(0.5) == math.inf and stats.n_for_rank_sum(0.3) == math.inf


def test_correlation_sample_size_gives_its_power():
    rng = np.random.default_rng(6)
    r = 0.45  # Pearson correlation of a bivariate normal; its Spearman correlation is (6/pi) asin(r/2)
    rho_s = 6 / math.pi * math.asin(r / 2)
    n = math.ceil(stats.n_for_correlation(rho_s))
    cov = [[1, r], [r, 1]]
    rejections = []
    for _ in range(400):
        x, y = rng.multivariate_normal([0, 0], cov, n).T
        rejections.append(stats.spearman(x, y)[1] < 0.05)
    assert np.mean(rejections) == pytest.approx(0.8, abs=0.08)
    assert stats.n_for_correlation(0.0) == math.inf and stats.n_for_correlation(math.nan) == math.inf
