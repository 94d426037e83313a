import numpy as np
import pytest

from normact.theory import activation_params, custom_activation, get_activation, list_activations


@pytest.mark.parametrize("name", list_activations())
def test_derivative_matches_finite_difference(name):
    act = get_activation(name)
    x = np.linspace(-4, 4, 801)
    x = x[np.all(np.abs(x[:, None] - np.array(act.kinks or (99.0,))) > 1e-3, axis=1)]
    h = 1e-6
    fd = (act.f(x + h) - act.f(x - h)) / (2 * h)
    np.testing.assert_allclose(act.df(x), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", [n for n in list_activations() if get_activation(n).bounds])
def test_bounds_are_the_limits(name):
    act = get_activation(name)
    lo, hi = act.bounds
    assert act.f(np.array([-1e6]))[0] == pytest.approx(lo, abs=1e-5)
    assert act.f(np.array([1e6]))[0] == pytest.approx(hi, abs=1e-5)


def test_explinear_family_members_agree_with_their_definitions():
    x = np.linspace(-5, 5, 1001)
    lselu = get_activation("lselu", lam=1.1, alpha=0.9, beta=0.3)
    ref = 1.1 * np.where(x > 0, x, 0.9 * np.exp(x) + 0.3 * x - 0.9)
    np.testing.assert_allclose(lselu.f(x), ref, rtol=1e-14, atol=1e-15)
    sselu = get_activation("sselu", lam=1.05, alpha=2.0, beta=0.4)
    np.testing.assert_allclose(sselu.f(x), 1.05 * np.where(x > 0, x, 2.0 * (np.exp(0.4 * x) - 1)), atol=1e-14)
    lecun = get_activation("lecun_tanh")
    np.testing.assert_allclose(lecun.f(x), 1.7159 * np.tanh(2 * x / 3))


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'seluu'; choose from \[.*'selu'"):
        get_activation("seluu")


def test_unknown_or_bad_parameter():
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['slop'\]; its parameters are \['slope'\]"):
        get_activation("leaky_relu", slop=0.1)
    with pytest.raises(ValueError, match="finite"):
        get_activation("elu", alpha=float("nan"))
    assert activation_params("sselu") == {"lam": 1.0, "alpha": 2.0, "beta": 0.5}


def test_custom_activation_numerical_derivative():
    swish = get_activation("swish")
    num = custom_activation(swish.f)
    assert num.numerical_derivative
    x = np.linspace(-6, 6, 301)
    np.testing.assert_allclose(num.df(x), swish.df(x), rtol=1e-8, atol=1e-10)
