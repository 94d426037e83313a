import math

import numpy as np
import pytest
from scipy import optimize, stats

from normact.theory import (
    SELU_ALPHA,
    SELU_LAMBDA,
    custom_activation,
    delta,
    dphi,
    frac_positive,
    gamma,
    get_activation,
    gpn_gain,
    moments,
    normprop_constants,
    phi,
    quantities,
    r_score,
    self_normalization_check,
)


def mc(act, mean, std, n=1_000_000, seed=0):
    x = np.random.default_rng(seed).normal(mean, std, n)
    return x, act.f(x)


def within(estimate_samples, value, k=5.0):
    est = estimate_samples.mean()
    se = estimate_samples.std(ddof=1) / math.sqrt(len(estimate_samples))
    assert abs(est - value) < k * se, (est, value, se)


@pytest.mark.parametrize("name", ["tanh", "swish", "selu", "softsign", "gelu", "mish", "lecun_tanh"])
def test_moments_within_monte_carlo_confidence(name):
    act = get_activation(name)
    x, y = mc(act, 0.3, 1.4)
    m = moments(act, 0.3, 1.4)
    within(y, m.mean)
    within((y - m.mean) ** 2, m.var)
    within((y - m.mean) ** 3, m.third_central)
    within(act.df(x) ** 2, m.df2)


def test_skewness_against_scipy_on_samples():
    act = get_activation("elu")
    _, y = mc(act, 0.0, 1.0, n=2_000_000)
    sk = stats.skew(y, bias=False)
    # The sampling error of the skewness: bootstrap the statistic on 20 disjoint chunks.
    chunks = np.array([stats.skew(c, bias=False) for c in np.array_split(y, 20)])
    assert abs(quantities(act).skewness - sk) < 5 * chunks.std(ddof=1) / math.sqrt(20)


def test_relu_r_score_is_the_same_at_every_std():
    # ReLU is positively homogeneous: Var = s^2 (1/2 - 1/(2 pi)) and E[f'^2] = 1/2 at every s,
    # so R = ln(1 - 1/pi) whatever the std.
    values = [r_score("relu", s) for s in (0.01, 0.3, 1.0, 7.0, 300.0)]
    np.testing.assert_allclose(values, math.log(1 - 1 / math.pi), rtol=1e-12)


def test_selu_constants_come_out_of_zero_mean_unit_variance():
    def equations(p):
        m = moments(get_activation("dselu", lam=p[0], alpha=p[1]), 0.0, 1.0)
        return [m.mean, m.second_moment - 1.0]

    lam, alpha = optimize.fsolve(equations, [1.0, 1.0], xtol=1e-14)
    assert lam == pytest.approx(SELU_LAMBDA, rel=1e-10)
    assert alpha == pytest.approx(SELU_ALPHA, rel=1e-10)


@pytest.mark.parametrize("name", ["selu", "tanh", "swish", "softsign", "gelu"])
@pytest.mark.parametrize("q", [0.3, 1.0, 2.5])
def test_dphi_is_the_derivative_of_phi(name, q):
    h = 1e-4 * q
    fd = (phi(name, q + h) - phi(name, q - h)) / (2 * h)
    assert dphi(name, q) == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_gamma_at_q_is_gamma_at_one_of_the_rescaled_activation():
    act, q = get_activation("tanh"), 2.3
    c = math.sqrt(q)
    rescaled = custom_activation(lambda x: act.f(c * x) / c, lambda x: act.df(c * x))
    assert gamma(act, q) == pytest.approx(gamma(rescaled, 1.0), rel=1e-10)
    assert gamma(act, 1.0) == pytest.approx(abs(dphi(act, 1.0) + 1.0))


def test_relu_delta_is_zero_and_phi_is_constant():
    # E[relu^2] = q / 2 and phi = 1/2, so 1 + delta_q = q phi / E[f^2] = 1 at every q.
    for q in (0.2, 1.0, 5.0):
        assert delta("relu", q) == pytest.approx(0.0, abs=1e-14)
        assert phi("relu", q) == pytest.approx(0.5, rel=1e-14)


def test_quantities_fields_and_their_definitions():
    q = quantities("swish", mean=0.1, std=1.7)
    m = moments("swish", 0.1, 1.7)
    assert q.rho == pytest.approx(m.var / 1.7**2)
    assert q.rho_prime == pytest.approx(m.df2)
    assert q.lam == pytest.approx(math.sqrt((q.rho + q.rho_prime) / (2 * q.rho * q.rho_prime)))
    assert q.R == pytest.approx(math.log(q.rho / q.rho_prime))
    assert q.phi == pytest.approx(phi("swish", 1.7**2))
    assert q.saturation is None
    assert set(q.as_dict()) >= {
        "mean",
        "var",
        "second_moment",
        "rho",
        "rho_prime",
        "lam",
        "R",
        "skewness",
        "saturation",
        "phi",
        "delta",
        "gamma",
    }


def test_saturation_of_bounded_activations():
    act = get_activation("lecun_tanh")
    _, y = mc(act, 0.5, 2.0)
    within(np.abs(y) / 1.7159, quantities(act, 0.5, 2.0).saturation)
    # In the small-std limit tanh is the identity: E|tanh x| -> E|x| = s sqrt(2/pi).
    assert quantities("tanh", 0.0, 1e-4).saturation == pytest.approx(1e-4 * math.sqrt(2 / math.pi), rel=1e-6)


def test_frac_positive():
    for m, s in [(0.0, 1.0), (0.7, 0.3), (-1.0, 2.0)]:
        assert frac_positive("relu", m, s) == pytest.approx(stats.norm.cdf(m / s), rel=1e-12)
        assert frac_positive("tanh", m, s) == pytest.approx(stats.norm.cdf(m / s), rel=1e-12)
    assert frac_positive("sigmoid") == 1.0
    wave = custom_activation(np.sin, np.cos)
    x = np.random.default_rng(1).normal(0.5, 3.0, 1_000_000)
    within((np.sin(x) > 0).astype(float), frac_positive(wave, 0.5, 3.0))


def test_gpn_gain_restores_the_second_moment():
    for name, std in [("relu", 1.0), ("leaky_relu", 1.0), ("tanh", 0.7), ("swish", 2.0)]:
        g = gpn_gain(name, std)
        assert g**2 * moments(name, 0.0, std).second_moment == pytest.approx(std**2, rel=1e-13)
    # ReLU: E[relu(x)^2] = 1/2 exactly, so the gain is sqrt 2 (ANAct's ReLU-GPN 1.4142).
    assert gpn_gain("relu") == pytest.approx(math.sqrt(2), rel=1e-15)


def test_normprop_constants_are_relu_mean_and_std():
    mean, std = normprop_constants()
    x = np.random.default_rng(2).normal(size=1_000_000)
    within(np.maximum(x, 0), mean)
    assert mean == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-14)
    assert std == pytest.approx(math.sqrt(0.5 - 1 / (2 * math.pi)), rel=1e-14)


def test_definition_two_check():
    check = self_normalization_check("selu")
    assert check.second_moment == pytest.approx(1.0, rel=1e-12)
    assert check.eps == pytest.approx(phi("selu", 1.0) - 1.0)
    # With eps > 0 the bound fails on an interval around q = 1 (by continuity); far from 1 it holds.
    (lo, hi), *rest = check.violations
    assert lo < 1.0 < hi and not rest
    for q in (0.3, 4.0):
        assert min(1, 1 / q) < phi("selu", q) < max(1, 1 / q)
    assert not self_normalization_check("relu").holds


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"q .* must be a finite positive number"):
        phi("selu", 0.0)
    with pytest.raises(ValueError, match="std >= 0"):
        quantities("relu", std=-1.0)
    with pytest.raises(ValueError, match="E\\[f\\(x\\)\\^2\\] is 0"):
        gpn_gain(custom_activation(lambda x: 0 * x, lambda x: 0 * x))
