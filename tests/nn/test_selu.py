import pytest
import torch
import torch.nn.functional as F

from normact.nn import DSELU, LSELU, SSELU

from .quadrature import expect


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


def gaussian_moments(module):
    """E[f(z)], E[f(z)^2] and phi(1) = E[f'(z)^2] of the torch module by quadrature."""
    return expect(module), expect(lambda x: module(x) ** 2), expect(lambda x: module.derivative(x) ** 2)


@pytest.mark.parametrize("cls", [DSELU, SSELU, LSELU])
@pytest.mark.parametrize("eps", [0.017, 0.06])
def test_from_epsilon_meets_the_constraints(cls, eps):
    # Definition 2 / eq. 11, checked on the torch module by quadrature, not by the solver
    m = cls.from_epsilon(eps).double()
    _, second, phi = gaussian_moments(m)
    assert second == pytest.approx(1.0, abs=1e-8)
    assert phi == pytest.approx(1 + eps, abs=1e-8)
    assert m.lam >= 1 - 1e-12


@pytest.mark.parametrize("cls", [SSELU, LSELU])
def test_from_epsilon_central_has_zero_mean(cls):
    m = cls.from_epsilon(0.06, central=True, trainable_lambda=True, dtype=torch.float64)
    mean, second, phi = gaussian_moments(m)
    assert mean == pytest.approx(0.0, abs=1e-8) and second == pytest.approx(1.0, abs=1e-8)
    assert phi == pytest.approx(1.06, abs=1e-8)
    assert isinstance(m.lam, torch.nn.Parameter)


@pytest.mark.parametrize("cls", [SSELU, LSELU])
def test_from_epsilon_with_a_lower_bound_on_lam(cls):
    m = cls.from_epsilon(0.06, lam_min=0.5).double()
    _, second, phi = gaussian_moments(m)
    assert second == pytest.approx(1.0, abs=1e-8) and phi == pytest.approx(1.06, abs=1e-8)
    assert m.lam == pytest.approx(0.5)  # the bound is active at eps = 0.06
    with pytest.raises(ValueError, match="lam_min does not apply to dselu"):
        DSELU.from_epsilon(0.06, lam_min=0.5)


def test_from_epsilon_reproduces_table_5_where_it_is_the_optimum():
    # Table 5, 56-layer CNN, eps = 0.017 (printed to two decimals)
    d, s, l = DSELU.from_epsilon(0.017), SSELU.from_epsilon(0.017), LSELU.from_epsilon(0.017)
    assert (round(d.lam, 2), round(d.alpha, 2)) == (1.34, 0.64)
    assert (round(s.lam, 2), round(s.alpha, 2), round(s.beta, 2)) == (1.00, 3.28, 0.41)
    assert (round(l.lam, 2), round(l.alpha, 2), round(l.beta, 2)) == (1.00, 0.86, 0.55)
