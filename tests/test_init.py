import math

import pytest
import torch
from torch import nn

from normact.init import SCHEMES, init_weights
from normact.nn import NormPropConv2d, centralize_weights


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
