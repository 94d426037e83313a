import torch

from normact.nn import CReLU


def test_crelu_module():
    m = CReLU()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    y = m(x)
    assert y.shape == (2, 6, 4, 4) and m.channel_multiplier == 2
    torch.testing.assert_close(y[:, :3] - y[:, 3:], x)  # relu(x) - relu(-x) = x
    d = m.derivative(x)
    assert d.shape == y.shape
    torch.testing.assert_close(d[:, :3] - d[:, 3:], torch.ones_like(x) - (x == 0).double())
    assert CReLU(dim=-1)(torch.randn(3, 5)).shape == (3, 10) and repr(CReLU(-1)) == "CReLU(dim=-1)"
