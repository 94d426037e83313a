import math

import pytest
import torch
import torch.nn.functional as F

from normact import theory
from normact.functional import NORMPROP_GAMMA, relu_gaussian_moments
from normact.nn import NormPropConv2d, NormPropLinear

C0, C1 = 1 / math.sqrt(2 * math.pi), math.sqrt(0.5 - 0.5 / math.pi)


def reference(m, x, conv):
    w = m.weight / m.weight.flatten(1).norm(dim=1).view(-1, *([1] * (m.weight.dim() - 1)))
    w = w * m.gamma.view(-1, *([1] * (m.weight.dim() - 1)))
    z = F.conv2d(x, w, m.bias, m.stride, m.padding) if conv else F.linear(x, w, m.bias)
    y = {"relu": torch.relu(z), "crelu": torch.cat([torch.relu(z), torch.relu(-z)], 1), None: z}[m.act]
    return (y - C0) / C1 if m.variant == 1 and m.act is not None else y


@pytest.mark.parametrize("variant", [1, 2, 3])
@pytest.mark.parametrize("act", ["relu", "crelu", None])
def test_layers_match_formula(variant, act):
    conv = NormPropConv2d(3, 5, 3, variant=variant, act=act, padding=1).double()
    lin = NormPropLinear(7, 4, variant=variant, act=act).double()
    with torch.no_grad():
        for m in (conv, lin):
            m.bias.normal_()
            if variant != 3:
                m.gamma.uniform_(0.5, 1.5)
    x, v = torch.randn(2, 3, 6, 6, dtype=torch.float64), torch.randn(9, 7, dtype=torch.float64)
    torch.testing.assert_close(conv(x), reference(conv, x, True))
    torch.testing.assert_close(lin(v), reference(lin, v, False))
    assert conv(x).shape[1] == (10 if act == "crelu" else 5)


def test_variant_three_fixes_gamma_and_init():
    m = NormPropLinear(4, 3, variant=3)
    assert "gamma" in dict(m.named_buffers()) and "gamma" not in dict(m.named_parameters())
    assert torch.allclose(m.gamma, torch.full((3,), NORMPROP_GAMMA)) and torch.all(m.bias == 0)
    assert "gamma" in dict(NormPropConv2d(2, 3, 1, variant=2).named_parameters())
    assert "variant=3, act=relu" in repr(m)


def test_variant_one_normalizes_gaussian_input():
    # orthogonal rows and unit-variance input: z ~ N(0, 1) per unit, so the output is about N(0, 1)
    m = NormPropLinear(256, 256, variant=1)
    torch.nn.init.orthogonal_(m.weight)
    with torch.no_grad():
        m.gamma.fill_(1.0)
        y = m(torch.randn(4096, 256))
    assert abs(y.mean().item()) < 0.01 and abs(y.std().item() - 1) < 0.01


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant must be 1, 2 or 3"):
        NormPropLinear(2, 2, variant=4)
    with pytest.raises(ValueError, match="act must be one of"):
        NormPropConv2d(2, 2, 3, act="tanh")


def test_constants_equal_the_theory_engine():
    for ours, theirs in zip(relu_gaussian_moments(), theory.normprop_constants(), strict=True):
        assert ours == pytest.approx(theirs, rel=1e-12)
    assert (C0, C1) == relu_gaussian_moments()
