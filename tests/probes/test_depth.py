import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from normact import theory
from normact.probes.depth import (
    compare_second_moments,
    plot_second_moments,
    predict_second_moments,
    theory_activation,
)

NETWORKS = 8


def gaussian_init(layer: nn.Module, sigma_w2: float) -> nn.Module:
    """Weights from N(0, sigma_w2 / fan_in), zero bias."""
    nn.init.normal_(layer.weight, 0.0, math.sqrt(sigma_w2 / layer.weight[0].numel()))
    nn.init.zeros_(layer.bias)
    return layer


def mlp(act: type[nn.Module], sigma_w2: float, width: int, depth: int = 6, dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = []
    d_in = 32
    for i in range(depth):
        layers += [gaussian_init(nn.Linear(d_in, width), sigma_w2), act()]
        if dropout and i == depth // 2:
            layers.append(nn.Dropout(dropout))
        d_in = width
    return nn.Sequential(*layers).train()


def cnn(act: type[nn.Module], sigma_w2: float, channels: int, depth: int = 4) -> nn.Module:
    layers: list[nn.Module] = []
    c_in = 3
    for _ in range(depth):
        layers += [gaussian_init(nn.Conv2d(c_in, channels, 3, padding=1), sigma_w2), act()]
        c_in = channels
    return nn.Sequential(*layers)


def ratios(make, shape: tuple[int, ...], sigma_w2: float) -> np.ndarray:
    """measured / predicted E[h_l^2] for independent random networks, shape (networks, layers)."""
    out = []
    for seed in range(NETWORKS):
        torch.manual_seed(seed)
        records = compare_second_moments(make(), torch.randn(*shape) * 1.2, sigma_w2=sigma_w2)
        out.append([r["ratio"] for r in records])
    return np.array(out)


def tolerance(r: np.ndarray, fan_in: np.ndarray | int) -> np.ndarray:
    """4 standard errors of the mean over networks, plus 2 / fan_in for mean-field's O(1 / fan_in) bias
    (the sum feeding a unit has a random second moment, and E[f^2] is not linear in it)."""
    return 4 * r.std(0, ddof=1) / math.sqrt(len(r)) + 2.0 / np.asarray(fan_in)


@pytest.mark.parametrize(
    "act, sigma_w2, dropout",
    [(nn.ReLU, 2.0, 0.25), (nn.Tanh, 1.5, 0.0), (nn.SELU, 1.0, 0.0)],
)
def test_prediction_matches_wide_random_networks(
    act: type[nn.Module], sigma_w2: float, dropout: float
) -> None:
    width = 256
    r = ratios(lambda: mlp(act, sigma_w2, width, dropout=dropout), (256, 32), sigma_w2)
    assert np.all(np.abs(r.mean(0) - 1) < tolerance(r, width)), (r.mean(0), tolerance(r, width))


def test_prediction_follows_convolution_borders() -> None:
    channels, sigma_w2 = 32, 1.0
    r = ratios(lambda: cnn(nn.Tanh, sigma_w2, channels), (64, 3, 8, 8), sigma_w2)
    tol = tolerance(r, np.array([3, channels, channels, channels]) * 9)
    assert np.all(np.abs(r.mean(0) - 1) < tol), (r.mean(0), tol)
    # Ignoring the zero padding (every output summing a full kernel) is off by far more after the first
    # layer (whose 27 weights per filter leave a wide tolerance).
    q, naive = 1.2**2, []
    for _ in range(4):
        q = sigma_w2 * q
        naive.append(q)
        q = theory.moments("tanh", 0.0, math.sqrt(q)).second_moment
    records = predict_second_moments(cnn(nn.Tanh, sigma_w2, channels), 1.2**2, (3, 8, 8))
    gap = np.array(naive) / np.array([r["predicted"] for r in records]) - 1
    assert np.all(gap[1:] > 2 * tol[1:]), (gap, tol)


def test_prediction_reads_the_gain_and_bias_of_the_weights() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(10, 7)
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(7, 3))
    w = lin.weight.detach().double()
    q1 = 10 * w.square().mean().item() * 2.0 + lin.bias.detach().double().square().mean().item()
    (first, second) = predict_second_moments(model, 2.0)
    assert first["predicted"] == pytest.approx(q1, rel=1e-12)
    w2, b2 = model[2].weight.detach().double(), model[2].bias.detach().double()
    expected = 7 * w2.square().mean().item() * q1 / 2 + b2.square().mean().item()
    assert second == {"layer": "2", "index": 2, "predicted": pytest.approx(expected, rel=1e-12)}
    given = nn.Linear(4, 4)
    (record,) = predict_second_moments([given, nn.Tanh()], 0.5, sigma_w2=3.0)
    assert record["predicted"] == pytest.approx(1.5 + given.bias.detach().double().square().mean().item())


@pytest.mark.parametrize(
    "module",
    [
        nn.ReLU(),
        nn.LeakyReLU(0.2),
        nn.ELU(0.7),
        nn.SELU(),
        nn.Tanh(),
        nn.Sigmoid(),
        nn.Softsign(),
        nn.SiLU(),
        nn.Mish(),
        nn.GELU(),
        nn.Softplus(),
        nn.GELU(approximate="tanh"),
        nn.CELU(0.5),
        nn.Hardtanh(),
    ],
)
def test_theory_activation_agrees_with_the_module(module: nn.Module) -> None:
    act = theory_activation(module)
    x = np.linspace(-4, 4, 801)
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(act.f(x), module(xt).numpy(), rtol=1e-12, atol=1e-12)
    leaf = xt.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(module(leaf).sum(), leaf)
    np.testing.assert_allclose(act.df(x), grad.numpy(), rtol=1e-10, atol=1e-12)


def test_unsupported_stacks_raise() -> None:
    with pytest.raises(TypeError, match=r"'1' \(BatchNorm1d\) is not part of a plain stack"):
        predict_second_moments(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)), 1.0)
    with pytest.raises(ValueError, match="pass input_shape="):
        predict_second_moments(nn.Sequential(nn.Conv2d(3, 3, 3)), 1.0)
    with pytest.raises(ValueError, match="sigma_w2 has 1 values for 2 weight layers"):
        predict_second_moments(nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3)), 1.0, sigma_w2=[1.0])
    with pytest.raises(ValueError, match="no Linear or convolution"):
        predict_second_moments(nn.Sequential(nn.ReLU()), 1.0)
    with pytest.raises(TypeError, match="Softmax is not an elementwise activation"):
        theory_activation(nn.Softmax(dim=1))


def test_plot_writes_a_png(tmp_path) -> None:
    torch.manual_seed(0)
    records = compare_second_moments(mlp(nn.Tanh, 1.5, 64, depth=3), torch.randn(32, 32))
    path = plot_second_moments(records, tmp_path / "depth.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class SubclassedELU(nn.ELU):
    """Keeps ELU's forward: the theory's closed-form ELU applies."""


class ScaledSiLU(nn.SiLU):
    """Overrides SiLU's forward: must not be taken for SiLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


def test_subclasses_map_by_name_only_when_they_keep_the_forward() -> None:
    elu = theory_activation(SubclassedELU(alpha=0.3))
    assert elu.name == "elu" and elu.params == {"alpha": 0.3}
    scaled = theory_activation(ScaledSiLU())
    assert scaled.name == "ScaledSiLU"
    x = np.linspace(-3, 3, 61)
    np.testing.assert_allclose(scaled.f(x), 2 * x / (1 + np.exp(-x)), rtol=1e-12)


@pytest.mark.parametrize(
    ("given", "name"),
    [(torch.tanh, "tanh"), (F.gelu, "gelu"), (lambda x: x * torch.sigmoid(x), "silu"), (nn.Mish(), "mish")],
)
def test_the_theory_engine_takes_torch_functions_and_modules(given, name):
    """A torch callable or module given to normact.theory has the registered activation's quantities."""
    ours, exact = theory.quantities(given), theory.quantities(name)
    for key in ("mean", "var", "rho_prime", "phi", "gamma"):
        assert getattr(ours, key) == pytest.approx(getattr(exact, key), rel=1e-9, abs=1e-12)
    with pytest.raises(ValueError, match="not an elementwise function"):
        theory.get_activation(lambda x: x.sum())
