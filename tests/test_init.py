import math

import numpy as np
import pytest
import torch
from scipy import integrate, special
from torch import nn

from normact.init import SCHEMES, gain, init_weights
from normact.nn import NormPropConv2d, centralize_weights
from normact.theory import SELU_ALPHA, SELU_LAMBDA


def model():
    return nn.Sequential(nn.Conv2d(16, 32, 3), nn.BatchNorm2d(32), nn.Flatten(), nn.Linear(512, 256))


@pytest.mark.parametrize(
    ("scheme", "std"),
    [
        ("xavier", lambda fi, fo: math.sqrt(2 / (fi + fo))),
        ("he", lambda fi, fo: math.sqrt(2 / fi)),
        ("lecun", lambda fi, fo: math.sqrt(1 / fi)),
    ],
)
def test_variance_schemes(scheme, std):
    m = init_weights(model(), scheme, bias=0.1)
    conv, lin = m[0].weight, m[3].weight
    assert conv.std().item() == pytest.approx(std(16 * 9, 32 * 9), rel=0.05)
    assert lin.std().item() == pytest.approx(std(512, 256), rel=0.03)
    assert torch.all(m[0].bias == 0.1) and torch.all(m[1].weight == 1)  # norms keep their own init


def test_orthogonal():
    m = init_weights(model(), "orthogonal")
    w = m[3].weight  # (256, 512): orthonormal rows
    torch.testing.assert_close(w @ w.T, torch.eye(256), atol=1e-5, rtol=0)
    f = m[0].weight.flatten(1)  # (32, 144)
    torch.testing.assert_close(f @ f.T, torch.eye(32), atol=1e-5, rtol=0)


def test_parametrized_and_subclassed_layers():
    m = centralize_weights(nn.Sequential(nn.Linear(300, 200), NormPropConv2d(3, 4, 3)))
    init_weights(m, "lecun")
    assert m[0].parametrizations.weight.original.std().item() == pytest.approx(1 / math.sqrt(300), rel=0.05)
    assert m[1].weight.std().item() == pytest.approx(1 / math.sqrt(27), rel=0.3)


def test_unknown_scheme():
    with pytest.raises(
        ValueError,
        match=r"unknown init scheme 'kaiming'; choose from \['he', 'lecun', 'orthogonal', 'xavier'\]",
    ):
        init_weights(model(), "kaiming")
    assert sorted(SCHEMES) == ["he", "lecun", "orthogonal", "xavier"]


def _quad_second_moment(f):
    """E[f(z)^2], z ~ N(0, 1), by scipy's adaptive quadrature on each side of 0 (the kinks' place)."""

    def g(z):
        return float(f(np.array([z]))[0]) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(g, -np.inf, 0, epsabs=1e-13)[0] + integrate.quad(g, 0, np.inf, epsabs=1e-13)[0]


@pytest.mark.parametrize(
    ("act", "numpy_f"),
    [
        ("tanh", np.tanh),
        ("selu", lambda z: SELU_LAMBDA * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0)))),
        (nn.GELU(), lambda z: z * special.ndtr(z)),
        (torch.sigmoid, special.expit),
    ],
)
def test_gain_is_unit_second_moment_by_quadrature_and_monte_carlo(act, numpy_f):
    g = gain(act)
    assert g == pytest.approx(1 / math.sqrt(_quad_second_moment(numpy_f)), rel=1e-6)
    f = act if callable(act) else getattr(torch, act)
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert (g * f(z)).square().mean().item() == pytest.approx(1.0, abs=5e-3)


def test_gain_of_relu_matches_torch_and_tanh_differs():
    assert gain("relu") == pytest.approx(nn.init.calculate_gain("relu"), rel=1e-12)
    assert abs(gain("tanh") - nn.init.calculate_gain("tanh")) > 0.05  # torch's 5/3 is not exact
    with pytest.raises(ValueError, match="nswish is swish normalized by its batch statistics"):
        gain("nswish")


@torch.no_grad()
def _last_second_moment(act_module, scheme, act=None, depth=30, width=512):
    layers = [m for _ in range(depth) for m in (act_module, nn.Linear(width, width, bias=False))]
    model = init_weights(nn.Sequential(*layers), scheme, act=act)
    x = torch.randn(2000, width, generator=torch.Generator().manual_seed(1))  # unit pre-activations
    return model(x).square().mean().item()  # the last layer's pre-activations


def test_init_weights_with_act_keeps_unit_second_moment_through_depth():
    torch.manual_seed(0)
    assert _last_second_moment(nn.Tanh(), "lecun", act="tanh") == pytest.approx(1.0, abs=0.05)
    # leaky ReLU is homogeneous (any q is a fixed point): few wide layers keep the weights' noise small
    leaky = nn.LeakyReLU(0.2)
    q = _last_second_moment(leaky, "xavier", act=leaky, depth=3, width=2048)
    assert q == pytest.approx(1.0, abs=0.08)
    # torch's gain 5/3 for tanh drifts away from 1 over the same depth
    torch_gain = nn.init.calculate_gain("tanh")
    layers = [m for _ in range(30) for m in (nn.Tanh(), nn.Linear(512, 512, bias=False))]
    model = nn.Sequential(*layers)
    for lin in model[1::2]:
        nn.init.normal_(lin.weight, 0.0, torch_gain / math.sqrt(512))
    with torch.no_grad():
        x = torch.randn(2000, 512, generator=torch.Generator().manual_seed(1))
        assert model(x).square().mean().item() > 1.12  # its fixed point is q = 1.18
