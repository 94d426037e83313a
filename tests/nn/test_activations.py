import pytest
import torch
from torch import nn

import normact.nn as A

PLAIN = [
    (A.Identity(), nn.Identity),
    (A.ReLU(), nn.ReLU),
    (A.LeakyReLU(0.2), nn.LeakyReLU),
    (A.ELU(0.5), nn.ELU),
    (A.SELU(), nn.SELU),
    (A.Tanh(), nn.Tanh),
    (A.Softsign(), nn.Softsign),
    (A.Sigmoid(), nn.Sigmoid),
    (A.GELU("tanh"), nn.GELU),
    (A.Softplus(2.0, 3.0), nn.Softplus),
    (A.Mish(), nn.Mish),
    (A.Swish(), nn.SiLU),
    (A.Swish(1.7), None),
    (A.LeCunTanh(), None),
]


@pytest.mark.parametrize(("module", "torch_cls"), PLAIN, ids=[type(m).__name__ + repr(m) for m, _ in PLAIN])
def test_derivative_matches_autograd_and_forward_matches_torch(module, torch_cls):
    x = (torch.randn(500, dtype=torch.float64) * 4).requires_grad_()
    (grad,) = torch.autograd.grad(module(x).sum(), x)
    torch.testing.assert_close(module.derivative(x.detach()), grad)
    if torch_cls is not None:
        if torch_cls is not nn.SiLU:
            assert isinstance(module, torch_cls)
            reference = torch_cls(*[getattr(module, k) for k in getattr(module, "_params", ())])
        else:
            reference = nn.SiLU()
        torch.testing.assert_close(module(x), reference(x))


def test_swish_beta_and_lecun_asymptote():
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    torch.testing.assert_close(A.Swish(2.0)(x), x * torch.sigmoid(2 * x))
    assert "beta=2.0" in repr(A.Swish(2.0))
    assert A.LeCunTanh()(torch.tensor(50.0)).item() == pytest.approx(A.LeCunTanh.asymptote)
    assert A.Tanh.asymptote == A.Softsign.asymptote == 1.0
