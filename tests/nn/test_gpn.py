import math

import pytest
import torch

from normact.nn import GPN, LReLUGPN, ReLUGPN

from .quadrature import expect


def test_gains_equal_their_closed_forms():
    assert ReLUGPN().gain == pytest.approx(math.sqrt(2), rel=1e-10)
    assert LReLUGPN().gain == pytest.approx(math.sqrt(2 / (1 + 0.01**2)), rel=1e-10)
    assert LReLUGPN(0.2).gain == pytest.approx(math.sqrt(2 / (1 + 0.2**2)), rel=1e-10)
    # the paper prints 1.4142 and 1.4141
    assert round(ReLUGPN().gain, 4) == 1.4142 and round(LReLUGPN().gain, 4) == 1.4141


@pytest.mark.parametrize("base", ["elu", "tanh", "swish", "gelu"])
def test_gain_restores_the_second_moment(base):
    # quadrature of the torch module: E[(g f(z))^2] = 1
    m = GPN(base)
    assert expect(lambda x: m(x) ** 2) == pytest.approx(1.0, rel=1e-9)


def test_forward_and_derivative():
    x = torch.randn(100, dtype=torch.float64, requires_grad=True)
    m = LReLUGPN()
    torch.testing.assert_close(m(x), m.gain * torch.nn.functional.leaky_relu(x, 0.01))
    (grad,) = torch.autograd.grad(m(x).sum(), x)
    torch.testing.assert_close(m.derivative(x.detach()), grad)
    assert "gain=1.41414" in repr(m)
