"""The numbers the self-normalization paper's Figures 2, 3, 5 and 6 plot, against independent routes."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from normact.theory import get_activation, moments, solve
from normact.theory.selfnorm_figures import (
    delta_curves_data,
    layer_outputs_data,
    max_delta_data,
    mean_shift_data,
)


def _gauss(g, mean, var):
    """E[g(x)], x ~ N(mean, var), by adaptive quadrature split at the kink x = 0."""
    pdf = lambda x: math.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)  # noqa: E731
    return sum(
        integrate.quad(lambda x: g(x) * pdf(x), a, b, limit=200)[0] for a, b in ((-np.inf, 0), (0, np.inf))
    )


def _one_plus_delta(act, q):
    """q E[f'(x)^2] / E[f(x)^2], x ~ N(0, q) (eq. 2), by quadrature."""
    f, df = (lambda x: float(act.f(np.array(x)))), (lambda x: float(act.df(np.array(x))))
    return q * _gauss(lambda x: df(x) ** 2, 0.0, q) / _gauss(lambda x: f(x) ** 2, 0.0, q)


def test_figure2_one_plus_delta_q():
    qs, curves = delta_curves_data(eps=(0.017, 0.07), qs=np.array([0.3, 1.0, 2.5]))
    for fam, by_eps in curves.items():
        for eps, values in by_eps.items():
            assert values[1] == pytest.approx(1 + eps, abs=1e-9)  # delta_1 = eps: the constraints
            act = solve(fam, eps).activation()
            for q, value in zip(qs, values, strict=True):
                assert value == pytest.approx(_one_plus_delta(act, q), rel=1e-7)


def test_figure3_quadrature_and_monte_carlo_agree():
    samples = 20000
    variances, mus = (0.5, 4.0), np.array([-1.0, 0.0, 1.0])
    mus, data = mean_shift_data(variances=variances, mus=mus, samples=samples)
    acts = [get_activation("selu"), *(solve(fam, 0.06).activation() for fam in ("dselu", "sselu", "lselu"))]
    assert list(data) == ["SELU", "dSELU (eps=0.06)", "sSELU (eps=0.06)", "lSELU (eps=0.06)"]
    for act, (exact, sampled) in zip(acts, data.values(), strict=True):
        for i, var in enumerate(variances):
            for j, mu in enumerate(mus):
                f = lambda x, act=act: float(act.f(np.array(x)))  # noqa: E731
                assert exact[i, j] == pytest.approx(abs(_gauss(f, mu, var)), abs=1e-8)  # eq. 12 by quadrature
                # the Monte Carlo estimate lies within 4 standard errors of the sample mean of f
                error = np.sqrt(moments(act, mu, np.sqrt(var)).var / samples)
                assert abs(exact[i, j] - sampled[i, j]) < 4 * error


def test_figure5_simulated_layer_outputs():
    data = layer_outputs_data(depth=4, width=128, samples=128, layers=(1, 4))
    assert set(data) == {("sselu", 1.0), ("sselu", 0.5), ("lselu", 1.0), ("lselu", 0.5)}
    for (fam, lam_min), d in data.items():
        assert d["lam"] == pytest.approx(solve(fam, 0.03, lam_min=lam_min).lam) and d["lam"] >= lam_min
        widths = np.diff(d["bins"])
        for stats in d["layers"].values():
            assert np.sum(stats["density"] * widths) == pytest.approx(1.0)
        # layer 1: h = W x0 is about N(0, 1) (W ~ N(0, 1/N), x0 ~ N(0, I)), so its mean output is E[f(z)];
        # 0.02 more for the finite width: h's variance |x0|^2 / N differs from sample to sample
        expected = moments(solve(fam, 0.03, lam_min=lam_min).activation(), 0.0, 1.0)
        n = 128 * 128
        assert abs(d["layers"][1]["mean"] - expected.mean) < 5 * np.sqrt(expected.var / n) + 0.02
        assert d["layers"][1]["std"] == pytest.approx(np.sqrt(expected.var), rel=0.05)


def test_figure6_largest_one_plus_delta_against_lam():
    lams, data = max_delta_data(lams=np.array([0.6, 1.0, 1.3]), qs=np.linspace(0.02, 2.0, 50))
    for fam, values in data.items():
        for lam, value in zip(lams, values, strict=True):
            if fam == "lselu" and lam == 1.3:  # above lSELU's largest lam at eps = 0.03
                assert np.isnan(value)
                continue
            sol = solve(fam, 0.03, lam_min=float(lam))
            assert sol.lam == pytest.approx(lam) and sol.converged
            act = sol.activation()
            best = optimize.minimize_scalar(
                lambda q, act=act: -_one_plus_delta(act, q), bounds=(0.02, 2.0), method="bounded"
            )
            top = max(-best.fun, _one_plus_delta(act, 2.0))  # the largest may sit on the end q = 2
            assert value <= top + 1e-9 and value == pytest.approx(top, abs=2e-4)
