import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, special

from normact.theory.gaussian import expect, lower_moments, truncated_exp_moments

mp.mp.dps = 40


def quadpack(g, mean, std, points=()):
    """E[g(x)] by QUADPACK's adaptive Gauss-Kronrod, an independent algorithm."""
    dens = lambda x: np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))  # noqa: E731
    lo, hi = mean - 30 * std, mean + 30 * std
    pts = [p for p in points if lo < p < hi]
    return integrate.quad(
        lambda x: float(g(np.array([x]))[0]) * dens(x),
        lo,
        hi,
        points=pts or None,
        epsabs=1e-15,
        epsrel=1e-13,
        limit=1000,
    )[0]


FUNCTIONS = {
    "tanh": (np.tanh, ()),
    "softsign": (lambda x: x / (1 + np.abs(x)), (0.0,)),
    "relu_sq": (lambda x: np.maximum(x, 0) ** 2, (0.0,)),
    "swish": (lambda x: x * special.expit(x), ()),
    "abs_shifted": (lambda x: np.abs(x - 0.7), (0.7,)),
}


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (0.5, 0.05), (-2.0, 3.0), (0.3, 8.0)])
def test_expect_matches_quadpack(name, mean, std):
    g, kinks = FUNCTIONS[name]
    ours = expect(g, mean, std, breakpoints=kinks)
    ref = quadpack(g, mean, std, kinks)
    scale = expect(lambda x: np.abs(g(x)), mean, std, breakpoints=kinks)
    assert abs(ours - ref) <= 1e-10 * scale


def test_expect_gelu_closed_forms():
    # E[Phi(x)] = Phi(m / sqrt(1 + s^2)) and E[x Phi(x)] = m Phi(t) + s^2 pdf(t) / sqrt(1 + s^2),
    # t = m / sqrt(1 + s^2): Gaussian convolution identities, derived independently of the quadrature.
    for m, s in [(0.0, 1.0), (1.3, 0.4), (-0.7, 5.0)]:
        r = np.sqrt(1 + s * s)
        t = m / r
        assert expect(special.ndtr, m, s) == pytest.approx(special.ndtr(t), rel=1e-12)
        ref = m * special.ndtr(t) + s * s * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi) / r
        assert expect(lambda x: x * special.ndtr(x), m, s) == pytest.approx(ref, rel=1e-12)


def test_expect_polynomial_moments_exact():
    m, s = 0.4, 1.7
    # Raw moments of a Gaussian: E[x^2] = m^2 + s^2, E[x^4] = m^4 + 6 m^2 s^2 + 3 s^4.
    assert expect(lambda x: x**2, m, s) == pytest.approx(m * m + s * s, rel=1e-13)
    assert expect(lambda x: x**4, m, s) == pytest.approx(m**4 + 6 * m**2 * s**2 + 3 * s**4, rel=1e-13)


def test_expect_vector_valued_and_degenerate():
    out = expect(lambda x: np.stack([x, x * x]), 0.5, 2.0)
    assert out.shape == (2,)
    np.testing.assert_allclose(out, [0.5, 4.25], rtol=1e-13)
    assert expect(np.tanh, 0.3, 0.0) == pytest.approx(np.tanh(0.3))
    np.testing.assert_allclose(expect(lambda x: np.stack([x, 2 * x]), 1.5, 0.0), [1.5, 3.0])


def test_expect_monte_carlo_within_confidence():
    rng = np.random.default_rng(0)
    x = rng.normal(0.2, 1.5, 400_000)
    y = np.tanh(x) * x
    est, se = y.mean(), y.std(ddof=1) / np.sqrt(len(y))
    assert abs(expect(lambda t: np.tanh(t) * t, 0.2, 1.5) - est) < 5 * se


@pytest.mark.parametrize(("mean", "std"), [(float("nan"), 1.0), (0.0, -1.0), (0.0, float("inf"))])
def test_expect_rejects_bad_gaussians(mean, std):
    with pytest.raises(ValueError, match="std"):
        expect(np.tanh, mean, std)


def test_expect_reports_non_finite_integrand():
    with pytest.raises(ArithmeticError, match="not finite"):
        expect(lambda x: np.where(x > 1.0, np.inf, 0.0), 0.0, 1.0)


def test_expect_reports_non_integrable_singularity():
    with pytest.raises(ArithmeticError, match="did not converge"):
        expect(lambda x: 1.0 / np.abs(x), 0.0, 1.0)


def _mp_truncated(i, k, m, s, upper):
    """E[x^i e^{kx} 1{x <= 0}] (or x > 0) by 40-digit mpmath quadrature, split where the mass sits."""
    f = lambda x: x**i * mp.exp(k * x - (x - m) ** 2 / (2 * s * s)) / (s * mp.sqrt(2 * mp.pi))  # noqa: E731
    if upper:
        return float(mp.quad(f, [0, max(m, 0) + s, max(m, 0) + 7 * s, mp.inf]))
    return float(mp.quad(f, [-mp.inf, min(m, 0) - 7 * s, min(m, 0) - s, 0]))


@pytest.mark.parametrize(
    ("k", "mean", "std", "upper"),
    [
        (1.0, 0.0, 1.0, False),
        (2.0, 0.3, 2.0, False),
        (0.7, -1.0, 0.5, True),
        (3.0, 0.0, 1.0, False),
        (2.0, 0.0, 10.0, False),
        (1.0, -3.0, 1.0, True),
        (0.0, 1.0, 1.0, False),
        (1.0, -40.0, 1.0, False),
    ],
)
def test_truncated_exp_moments_against_mpmath(k, mean, std, upper):
    ours = truncated_exp_moments(k, mean, std, 4, upper=upper)
    ref = np.array([_mp_truncated(i, k, mean, std, upper) for i in range(5)])
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("mu", "s"), [(30.0, 1.0), (4.0, 0.5), (-2.0, 1.0), (0.0, 3.0)])
def test_lower_moments_against_textbook_formulas_in_high_precision(mu, s):
    # M_0 = Phi(-u), M_1 = mu M_0 - s pdf(u), M_i = mu M_{i-1} + (i-1) s^2 M_{i-2}: the direct recurrence
    # cancels in double precision far in the tail (mu/s = 30 leaves pdf(30) ~ 1e-196), not in 80 digits.
    with mp.workdps(80):
        u = mp.mpf(mu) / s
        ref = [mp.ncdf(-u), mu * mp.ncdf(-u) - s * mp.npdf(u)]
        for i in range(2, 6):
            ref.append(mu * ref[i - 1] + (i - 1) * s * s * ref[i - 2])
        ref = [float(r) for r in ref]
    np.testing.assert_allclose(lower_moments(mu, s, 5), ref, rtol=1e-12)


def test_hermegauss_identity():
    # Gauss-Hermite(e) nodes integrate polynomials exactly against exp(-z^2/2): an independent check
    # of expect on polynomials of degree up to 2n - 1.
    z, w = np.polynomial.hermite_e.hermegauss(20)
    assert w.sum() == pytest.approx(np.sqrt(2 * np.pi))
    poly = lambda x: 1 + x - 3 * x**2 + 0.5 * x**6  # noqa: E731
    assert expect(poly, 0.0, 1.0) == pytest.approx((w * poly(z)).sum() / np.sqrt(2 * np.pi), rel=1e-13)
