import copy

import pytest
import torch
from torch import nn

from normact import theory
from normact.functional import elementwise, theory_activation
from normact.nn import NLReLU, NormalizedActivation, NReLU, NSwish, Tanh

BUFFERS = ["running_mean", "running_rho", "running_rho_prime", "num_batches_tracked"]


def composite(x, module):
    """The module's eval-mode output as a plain expression of its state."""
    lam = torch.sqrt(
        (module.running_rho + module.running_rho_prime) / (2 * module.running_rho * module.running_rho_prime)
    )
    return (lam + module.b * torch.tanh(module.alpha)) * (module.base(x) - module.running_mean)


def test_buffers_are_named_like_batchnorm():
    m = NReLU()
    assert [n for n, _ in m.named_buffers()] == BUFFERS
    assert [n for n, _ in m.named_parameters()] == ["alpha"]
    assert m.alpha.item() == 0.0 and m.num_batches_tracked.dtype == torch.long
    assert all(
        b is None for b in (NReLU(instance=True).running_mean, NReLU(instance=True).num_batches_tracked)
    )


@pytest.mark.parametrize("cls", [NReLU, NSwish, NLReLU])
def test_named_classes_use_their_base(cls):
    base = {NReLU: "relu", NSwish: "swish", NLReLU: "leaky_relu"}[cls]
    x = torch.randn(16, 4, 3, 3)
    a, b = cls(momentum=0.3), NormalizedActivation(base, momentum=0.3)
    torch.testing.assert_close(a(x), b(x))
    assert all(torch.equal(s, t) for s, t in zip(a.buffers(), b.buffers(), strict=True))
    assert NLReLU(negative_slope=0.2).base.params == {"negative_slope": 0.2}


def test_train_updates_and_eval_uses_stored_values(engine):
    m = NSwish(momentum=0.2).double()
    for _ in range(4):
        x = torch.randn(32, 8, dtype=torch.float64) * 2
        out = m(x)
        m.eval()
        torch.testing.assert_close(m(x), out)  # training output used the freshly updated values
        m.train()
    assert m.num_batches_tracked.item() == 4
    m.eval()
    state = copy.deepcopy(m.state_dict())
    x = torch.randn(32, 8, dtype=torch.float64) * 7
    torch.testing.assert_close(m(x), composite(x, m))
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in state.items())


def test_state_dict_round_trip_into_a_fresh_model():
    model = nn.Sequential(
        nn.Linear(6, 12), NReLU(), nn.Linear(12, 12), NSwish(momentum=0.05), nn.Linear(12, 2)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        loss = model(torch.randn(32, 6)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model[1].alpha.item() != 0.0
    fresh = nn.Sequential(
        nn.Linear(6, 12), NReLU(), nn.Linear(12, 12), NSwish(momentum=0.05), nn.Linear(12, 2)
    )
    fresh.load_state_dict(model.state_dict())
    model.eval(), fresh.eval()
    x = torch.randn(9, 6)
    torch.testing.assert_close(fresh(x), model(x))
    assert fresh[3].num_batches_tracked.item() == 5
    path_state = {k: v.clone() for k, v in model.state_dict().items()}
    assert set(path_state) >= {
        "1.alpha",
        "1.running_mean",
        "1.running_rho",
        "1.running_rho_prime",
        "1.num_batches_tracked",
    }


def test_reset():
    m = NReLU()
    m(torch.randn(10, 3))
    with torch.no_grad():
        m.alpha.fill_(1.0)
    m.reset_running_stats()
    assert (
        m.running_mean.item(),
        m.running_rho.item(),
        m.running_rho_prime.item(),
        m.num_batches_tracked.item(),
    ) == (0, 1, 1, 0)
    assert m.alpha.item() == 1.0
    m.reset_parameters()
    assert m.alpha.item() == 0.0


@pytest.mark.parametrize("instance", [False, True])
def test_derivative_is_the_elementwise_jacobian_with_statistics_held(instance, engine):
    m = NSwish(instance=instance).double()
    with torch.no_grad():
        m.alpha.fill_(0.7)
    x = torch.randn(6, 5, dtype=torch.float64)
    m(x)  # training step: updates the running values in batch mode
    d = m.derivative(x)
    state = copy.deepcopy(m.state_dict())
    # eval mode (batch) or the same statistics (instance): the output is then a function of x alone
    m.eval()
    xg = x.clone().requires_grad_()
    if instance:
        with torch.no_grad():
            y = m.base(x)
            mu = y.mean(1, keepdim=True)
            rho = y.var(1, unbiased=False, keepdim=True) / x.var(1, unbiased=False, keepdim=True)
            rp = m.base.derivative(x).square().mean(1, keepdim=True)
            scale = torch.sqrt((rho + rp) / (2 * rho * rp)) + 0.3 * torch.tanh(m.alpha)
        out = scale * (m.base(xg) - mu)
    else:
        out = m(xg)
    (grad,) = torch.autograd.grad(out.sum(), xg)
    torch.testing.assert_close(d, grad)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in state.items())  # no side effects


def test_module_base_and_callable_base():
    m = NormalizedActivation(Tanh())
    assert isinstance(m.base_module, Tanh) and m.base.name == "Tanh"
    x = torch.randn(20, 3)
    torch.testing.assert_close(m(x), NormalizedActivation("tanh")(x))
    cube = NormalizedActivation(lambda t: t**3, derivative=lambda t: 3 * t**2)
    assert torch.isfinite(cube(torch.randn(50))).all()
    with pytest.raises(TypeError, match="derivative"):
        NormalizedActivation(lambda t: t**3)
    with pytest.raises(TypeError, match="apply only to a base given by name"):
        NormalizedActivation(elementwise("relu"), negative_slope=0.1)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="momentum"):
        NReLU(momentum=0.0)
    with pytest.raises(ValueError, match="lower < 1 < upper"):
        NReLU(lower=0.5, upper=0.9)
    with pytest.raises(ValueError, match="unknown elementwise activation 'rellu'"):
        NormalizedActivation("rellu")
    with pytest.raises(ValueError, match="batch dimension"):
        NReLU(instance=True)(torch.randn(5))


def test_repr_shows_every_hyperparameter():
    r = repr(NLReLU(0.05, 0.25, 4.0, b=0.2, instance=False, sync=False, negative_slope=0.1))
    for part in [
        "leaky_relu(negative_slope=0.1)",
        "momentum=0.05",
        "lower=0.25",
        "upper=4.0",
        "b=0.2",
        "instance=False",
        "sync=False",
    ]:
        assert part in r


def test_lam_property():
    m = NReLU()
    m(torch.randn(1000))
    expected = torch.sqrt((m.running_rho + m.running_rho_prime) / (2 * m.running_rho * m.running_rho_prime))
    torch.testing.assert_close(m.lam, expected)
    with pytest.raises(AttributeError):
        _ = NReLU(instance=True).lam


def test_device_and_dtype_arguments():
    m = NSwish(device="cpu", dtype=torch.float64)
    assert m.alpha.dtype == m.running_rho.dtype == torch.float64 and m.num_batches_tracked.dtype == torch.long


@pytest.mark.parametrize("base", ["relu", "leaky_relu", "swish", "tanh", "elu", "gelu"])
@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (0.5, 2.0)])
def test_batch_statistics_match_the_theory_engine(base, mean, std, engine):
    m = NormalizedActivation(base, **({"negative_slope": 0.2} if base == "leaky_relu" else {}))
    g = torch.Generator().manual_seed(1)
    m(torch.randn(1000, 1000, generator=g, dtype=torch.float64).float() * std + mean)
    q = theory.quantities(theory_activation(m.base), mean, std)
    # 1e6 samples: Monte Carlo errors are a few 1e-3 at most here
    assert m.running_mean.item() == pytest.approx(q.mean, abs=5e-3 * std)
    assert m.running_rho.item() == pytest.approx(q.rho, rel=5e-3)
    assert m.running_rho_prime.item() == pytest.approx(q.rho_prime, rel=5e-3)
    assert m.lam.item() == pytest.approx(q.lam, rel=5e-3)
