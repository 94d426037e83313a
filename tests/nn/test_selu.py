import pytest
import torch
import torch.nn.functional as F

from normact.nn import DSELU, LSELU, SSELU


@pytest.mark.parametrize("cls", [DSELU, SSELU, LSELU])
def test_defaults_are_selu(cls):
    x = torch.randn(100, dtype=torch.float64) * 3
    torch.testing.assert_close(cls()(x), F.selu(x))


@pytest.mark.parametrize("cls", [DSELU, SSELU, LSELU])
@pytest.mark.parametrize("trainable", [False, True])
def test_derivative_matches_autograd(cls, trainable):
    m = (
        cls(1.2, 1.4, trainable_lambda=trainable)
        if cls is DSELU
        else cls(1.2, 1.4, 0.3, trainable_lambda=trainable)
    )
    m = m.double()
    x = (torch.randn(64, dtype=torch.float64) * 3).requires_grad_()
    (grad,) = torch.autograd.grad(m(x).sum(), x)
    torch.testing.assert_close(m.derivative(x.detach()), grad)


def test_trainable_lambda_is_a_parameter_that_learns():
    m = LSELU(1.0, 1.5, 0.1, trainable_lambda=True)
    assert [n for n, _ in m.named_parameters()] == ["lam"] and m.lam.dtype == torch.float32
    x = torch.randn(256)
    (m(x).square().mean()).backward()
    assert m.lam.grad is not None and m.lam.grad.item() != 0
    assert list(LSELU(1.0, 1.5, 0.1).parameters()) == []
    fresh = LSELU(2.0, 1.5, 0.1, trainable_lambda=True)
    fresh.load_state_dict(m.state_dict())
    assert fresh.lam.item() == 1.0


def test_repr_and_errors():
    assert repr(SSELU(1.0, 2.04, 0.84)) == "SSELU(lam=1, alpha=2.04, beta=0.84)"
    assert "trainable" in repr(DSELU(trainable_lambda=True))
    with pytest.raises(ValueError, match="lam > 0"):
        LSELU(lam=-1.0)
    with pytest.raises(ValueError, match="no centralized form"):
        DSELU.from_epsilon(0.06, central=True)
    with pytest.raises(ValueError, match="eps must be positive"):
        SSELU.from_epsilon(0.0)
