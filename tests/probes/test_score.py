import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch
from torch import nn

from normact import probes
from normact.probes import convergence_score, elementwise_derivative


def relu_closed_form() -> tuple[float, float]:
    """rho and rho' of ReLU under N(0, 1), derived: E[relu z] = phi(0) since phi'(z) = -z phi(z),
    E[relu(z)^2] = E[z^2] / 2 by symmetry, and relu' = 1 on the half line z > 0."""
    mean = 1 / math.sqrt(2 * math.pi)
    return 0.5 - mean**2, 0.5


def test_relu_closed_form_agrees_with_quadrature() -> None:
    rho, rho_prime = relu_closed_form()
    phi = scipy.stats.norm.pdf
    m1 = scipy.integrate.quad(lambda z: z * phi(z), 0, np.inf)[0]
    m2 = scipy.integrate.quad(lambda z: z * z * phi(z), 0, np.inf)[0]
    assert rho == pytest.approx(m2 - m1**2, rel=1e-10)
    assert rho_prime == pytest.approx(scipy.integrate.quad(phi, 0, np.inf)[0], rel=1e-10)


def test_score_of_a_relu_layer_on_gaussian_input() -> None:
    z = torch.randn(1_000_000, dtype=torch.float64)
    score, (record,) = convergence_score(nn.Sequential(nn.ReLU()), z)
    rho, rho_prime = relu_closed_form()
    # Tolerance from the sample: 5 standard errors, estimated from 50 independent sub-samples.
    groups = z.reshape(50, -1)
    rho_g = (torch.relu(groups).var(1) / groups.var(1)).numpy()
    rho_prime_g = (groups > 0).double().mean(1).numpy()
    assert record["rho"] == pytest.approx(rho, abs=5 * rho_g.std(ddof=1) / math.sqrt(50))
    assert record["rho_prime"] == pytest.approx(rho_prime, abs=5 * rho_prime_g.std(ddof=1) / math.sqrt(50))
    assert score == pytest.approx((abs(math.log(record["rho"])) + abs(math.log(record["rho_prime"]))) / 2)


def test_score_sums_every_layer_with_analytic_derivatives() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ELU(alpha=0.7), nn.Linear(8, 2))
    model = model.double()
    x = torch.randn(500, 6, dtype=torch.float64)
    score, records = convergence_score(model, x)
    with torch.no_grad():
        h1 = model[0](x)
        h2 = model[2](torch.tanh(h1))
    expected = []
    for h, f, df in [
        (h1, torch.tanh, lambda v: 1 - torch.tanh(v) ** 2),
        (h2, model[3], lambda v: torch.where(v > 0, 1.0, 0.7 * torch.exp(v))),
    ]:
        rho = (f(h).var(correction=0) / h.var(correction=0)).item()
        rho_prime = (df(h) ** 2).mean().item()
        expected.append((abs(math.log(rho)) + abs(math.log(rho_prime))) / 2)
    assert [r["layer"] for r in records] == ["1", "3"]
    np.testing.assert_allclose([r["term"] for r in records], expected, rtol=1e-10)
    assert score == pytest.approx(sum(expected), rel=1e-10)


class Rescale(nn.Module):
    """A stateful activation: ``scale * x`` with ``scale`` a running mean of the batch std."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(()))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.training:
            self.scale.mul_(0.5).add_(0.5 * x.detach().std())
        return self.scale * x

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale.expand_as(x)


def test_score_leaves_the_model_as_it_found_it() -> None:
    model = nn.Sequential(
        nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(6, 6), Rescale()
    ).train()
    model[0].weight.requires_grad_(False)
    model[5].eval()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    flags = [p.requires_grad for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    x = torch.randn(64, 5)
    rng = torch.get_rng_state()

    _, records = convergence_score(model, x)

    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert model[5].calls == 1 and [r["module"] for r in records] == ["ReLU", "Rescale"]


def test_stateful_activation_uses_its_state_of_that_forward() -> None:
    act = Rescale().train()
    x = torch.randn(400, 3, dtype=torch.float64)
    _, (record,) = convergence_score(nn.Sequential(act.double()), x)
    scale_used = 0.5 + 0.5 * x.std().item()
    assert record["rho_prime"] == pytest.approx(scale_used**2, rel=1e-12)
    assert record["rho"] == pytest.approx(scale_used**2, rel=1e-12)
    assert act.scale.item() == 1.0 and act.calls == 1


def test_a_module_called_twice_is_two_layers_and_inplace_changes_nothing() -> None:
    x = torch.randn(256, 4)
    lin = nn.Linear(4, 4)
    scores = []
    for inplace in (False, True):
        act = nn.LeakyReLU(0.1, inplace=inplace)
        model = nn.Sequential(lin, act, lin, act)
        score, records = convergence_score(model, x)
        assert [r["layer"] for r in records] == ["1#1", "1#2"]
        scores.append(score)
    assert scores[0] == pytest.approx(scores[1], rel=1e-12)


def test_dead_layers_and_bad_input() -> None:
    score, (record,) = convergence_score(nn.Sequential(nn.ReLU()), -torch.rand(100, 3) - 0.1)
    assert record["rho_prime"] == 0.0 and math.isinf(score)
    with pytest.raises(ValueError, match="constant on this batch"):
        convergence_score(nn.Sequential(nn.Tanh()), torch.ones(10, 3))
    with pytest.raises(ValueError, match="no activation module"):
        convergence_score(nn.Linear(3, 3), torch.randn(4, 3))
    with pytest.raises(TypeError, match="no elementwise derivative"):
        convergence_score(nn.Sequential(nn.Softmax(1)), torch.randn(4, 3), where=nn.Softmax)


@pytest.mark.parametrize(
    "module, closed_form",
    [
        (nn.Tanh(), lambda x: 1 - torch.tanh(x) ** 2),
        (nn.SiLU(), lambda x: torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))),
        (nn.Softsign(), lambda x: 1 / (1 + x.abs()) ** 2),
        (nn.ReLU(inplace=True), lambda x: (x > 0).double()),
    ],
)
def test_elementwise_derivative(module: nn.Module, closed_form) -> None:
    x = torch.randn(100, dtype=torch.float64)
    kept = x.clone()
    np.testing.assert_allclose(elementwise_derivative(module, x), closed_form(kept), rtol=1e-12, atol=1e-15)
    assert torch.equal(x, kept)
    with pytest.raises(TypeError, match="not an elementwise activation"):
        elementwise_derivative(nn.Linear(2, 2), x)


def test_score_is_exported() -> None:
    assert probes.convergence_score is convergence_score
