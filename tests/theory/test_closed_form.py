import numpy as np
import pytest

from normact.theory import custom_activation, get_activation, moments
from normact.theory.closed_form import explinear_moments
from normact.theory.gaussian import expect

EXPLINEAR = [
    ("relu", {}),
    ("leaky_relu", {"slope": 0.2}),
    ("elu", {"alpha": 0.7}),
    ("selu", {}),
    ("dselu", {"lam": 1.3, "alpha": 0.6}),
    ("sselu", {"lam": 1.02, "alpha": 2.46, "beta": 0.58}),
    ("lselu", {"lam": 1.0, "alpha": 1.14, "beta": 0.39}),
    ("identity", {}),
]
GAUSSIANS = [(0.0, 1.0), (0.3, 2.0), (-1.0, 0.5), (2.5, 0.3), (0.0, 7.0)]


@pytest.mark.parametrize(("name", "params"), EXPLINEAR)
@pytest.mark.parametrize(("mean", "std"), GAUSSIANS)
def test_closed_form_equals_quadrature(name, params, mean, std):
    act = get_activation(name, **params)
    cf = explinear_moments(act.explinear, mean, std)
    s2 = std * std

    def integrand(x):
        f, d = act.f(x), act.df(x)
        return np.stack(
            [f, f * f, f**3, d * d, d * d * ((x - mean) ** 2 - s2) / (2 * s2 * s2), (x > 0) * 1.0]
        )

    quad = expect(integrand, mean, std, breakpoints=(0.0,))
    scale = expect(lambda x: np.stack([np.abs(v) for v in integrand(x)]), mean, std, breakpoints=(0.0,))
    got = np.array([cf.mean, cf.second, cf.third, cf.df2, cf.df2_dvar, cf.p_positive], dtype=float)
    err = np.abs(got - quad) / np.maximum(scale, 1e-300)  # relative to E|integrand|
    assert np.all(err < 1e-11), err


def test_closed_form_broadcasts_over_parameter_arrays():
    beta = np.array([0.2, 0.5, 1.5])
    act0 = get_activation("sselu", lam=1.0, alpha=2.0, beta=0.5)
    vec = explinear_moments(type(act0.explinear)(lam=1.0, a=2.0, b=beta), 0.0, 1.0)
    for i, b in enumerate(beta):
        one = explinear_moments(
            get_activation("sselu", lam=1.0, alpha=2.0, beta=float(b)).explinear, 0.0, 1.0
        )
        assert vec.second[i] == pytest.approx(float(one.second), rel=1e-15)


@pytest.mark.parametrize(("name", "params"), EXPLINEAR)
def test_moments_route_is_independent_of_closed_form(name, params):
    # The same function wrapped as a user activation goes through quadrature instead of the closed form.
    act = get_activation(name, **params)
    plain = custom_activation(act.f, act.df, kinks=(0.0,))
    a, b = moments(act, 0.4, 1.3), moments(plain, 0.4, 1.3)
    for field in ("mean", "var", "third_central", "df2", "df2_dvar"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-10, abs=1e-13)
