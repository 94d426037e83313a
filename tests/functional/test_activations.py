import math

import pytest
import torch

from normact.functional import LECUN_TANH_SCALE, SELU_ALPHA, SELU_LAMBDA, elementwise, elementwise_names

# Non-default parameters exercise the parameter plumbing; the grid avoids the kinks at 0.
PARAMS = {
    "leaky_relu": {"negative_slope": 0.2},
    "elu": {"alpha": 0.7},
    "dselu": {"lam": 1.3, "alpha": 0.6},
    "sselu": {"lam": 1.1, "alpha": 2.0, "beta": 0.7},
    "lselu": {"lam": 1.2, "alpha": 1.5, "beta": 0.3},
    "swish": {"beta": 1.7},
    "gelu": {"approximate": "tanh"},
    "softplus": {"beta": 2.0, "threshold": 5.0},
}
GRID = torch.cat([torch.linspace(-6, -0.01, 300), torch.linspace(0.01, 6, 300)]).double()


@pytest.mark.parametrize("name", elementwise_names())
@pytest.mark.parametrize("with_params", [False, True])
def test_derivative_matches_autograd(name: str, with_params: bool) -> None:
    act = elementwise(name, **(PARAMS.get(name, {}) if with_params else {}))
    x = GRID.clone().requires_grad_()
    (grad,) = torch.autograd.grad(act(x).sum(), x)
    torch.testing.assert_close(act.derivative(GRID), grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", elementwise_names())
def test_buffer_variants_match_plain(name: str) -> None:
    act = elementwise(name, **PARAMS.get(name, {}))
    x, g = torch.randn(257, dtype=torch.float64), torch.randn(257, dtype=torch.float64)
    torch.testing.assert_close(act(x, out=torch.empty_like(x)), act(x), rtol=0, atol=0)
    torch.testing.assert_close(act.derivative(x, out=torch.empty_like(x)), act.derivative(x), rtol=0, atol=0)
    torch.testing.assert_close(act.vjp(g, x, out=torch.empty_like(x)), g * act.derivative(x))


@pytest.mark.parametrize("name", [n for n in elementwise_names() if elementwise(n).homogeneous])
def test_homogeneous_flag_means_f_equals_x_df(name: str) -> None:
    act = elementwise(name, **PARAMS.get(name, {}))
    torch.testing.assert_close(act(GRID), GRID * act.derivative(GRID))


def test_relu_family_derivative_at_zero_follows_torch() -> None:
    x = torch.zeros(3, requires_grad=True)
    torch.relu(x).sum().backward()
    assert elementwise("relu").derivative(torch.zeros(3)).tolist() == x.grad.tolist() == [0.0] * 3


def test_closed_forms() -> None:
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], dtype=torch.float64)
    torch.testing.assert_close(elementwise("lecun_tanh")(x), 1.7159 * torch.tanh(2 * x / 3))
    assert elementwise("lecun_tanh").derivative(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(
        LECUN_TANH_SCALE * 2 / 3
    )
    torch.testing.assert_close(elementwise("selu")(x), torch.selu(x))
    torch.testing.assert_close(elementwise("dselu")(x), torch.selu(x))
    ref = SELU_LAMBDA * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(x))
    torch.testing.assert_close(elementwise("sselu")(x), ref)
    torch.testing.assert_close(elementwise("lselu")(x), ref)
    p = PARAMS["sselu"]
    torch.testing.assert_close(
        elementwise("sselu", **p)(x),
        p["lam"] * torch.where(x > 0, x, p["alpha"] * torch.expm1(p["beta"] * x)),
    )
    p = PARAMS["lselu"]
    expected = p["lam"] * torch.where(x > 0, x, p["alpha"] * torch.exp(x) + p["beta"] * x - p["alpha"])
    torch.testing.assert_close(elementwise("lselu", **p)(x), expected)
    torch.testing.assert_close(elementwise("softsign")(x), x / (1 + x.abs()))
    torch.testing.assert_close(elementwise("swish", beta=2.0)(x), x / (1 + torch.exp(-2 * x)))
    assert SELU_LAMBDA == pytest.approx(1.0507, abs=1e-4) and SELU_ALPHA == pytest.approx(1.6733, abs=1e-4)
    assert math.isclose(elementwise("silu").derivative(torch.zeros(1)).item(), 0.5)


def test_bad_names_and_parameters() -> None:
    with pytest.raises(ValueError, match=r"unknown elementwise activation 'seluu'; choose from \[.*'selu'"):
        elementwise("seluu")
    with pytest.raises(TypeError, match=r"unknown parameter.*'slope'.*negative_slope"):
        elementwise("leaky_relu", slope=0.1)


def test_elementwise_is_cached_and_printable() -> None:
    assert elementwise("leaky_relu", negative_slope=0.2) is elementwise("leaky_relu", negative_slope=0.2)
    assert repr(elementwise("leaky_relu", negative_slope=0.2)) == "leaky_relu(negative_slope=0.2)"
