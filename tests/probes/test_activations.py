import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from normact import probes

from .batches import SIZES, split


def run(model: nn.Module, probe: probes.Probe, x: torch.Tensor) -> dict:
    """The probe's results after feeding ``x`` to ``model`` in unequal batches."""
    with probes.attach(model, probe) as p:
        for part in split(x):
            model(part)
    return p.results()[probe.name]


def channels_last(a: torch.Tensor) -> np.ndarray:
    """``(N, C, ...)`` as a ``(values, C)`` float64 array."""
    a = a.double().numpy()
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_second_moment_streams_to_the_whole_set_value(dtype: torch.dtype, rtol: float) -> None:
    x = (torch.randn(200, 5, 3, 4, dtype=torch.float64) * 2 + 1).to(dtype)
    model = nn.Sequential(nn.Linear(4, 4).to(dtype), nn.Tanh())
    result = run(model, probes.SecondMoment(), x)["1"]
    h = model[0](x).detach().double()  # the pre-activation: the input of the Tanh
    np.testing.assert_allclose(result["value"], (h**2).mean().item(), rtol=rtol)
    per_batch = [(part**2).mean().item() for part in split(h)]
    np.testing.assert_allclose(result["series"], per_batch, rtol=rtol)
    assert result["calls"] == len(SIZES) and result["count"] == h.numel()


def test_second_moment_of_linear_outputs() -> None:
    x = torch.randn(200, 6, dtype=torch.float64)
    model = nn.Sequential(nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    result = run(model, probes.SecondMoment(where=nn.Linear, tap="output"), x)
    h1 = model[0](x).detach()
    h2 = model[2](torch.relu(h1)).detach()
    np.testing.assert_allclose(result["0"]["value"], (h1**2).mean().item(), rtol=1e-12)
    np.testing.assert_allclose(result["2"]["value"], (h2**2).mean().item(), rtol=1e-12)


def test_mean_streams_to_the_whole_set_value_and_gives_the_std_beside_the_second_moment() -> None:
    x = torch.randn(200, 5, 3, 4, dtype=torch.float64) * 2 + 1
    model = nn.Sequential(nn.Linear(4, 4).double(), nn.ReLU())
    with probes.attach(model, probes.Mean(tap="output"), probes.SecondMoment(tap="output")) as p:
        for part in split(x):
            model(part)
    mean, second = p.results()["mean"]["1"], p.results()["second_moment"]["1"]
    y = torch.relu(model[0](x)).detach()
    np.testing.assert_allclose(mean["value"], y.mean().item(), rtol=1e-12)
    np.testing.assert_allclose(mean["series"], [part.mean().item() for part in split(y)], rtol=1e-12)
    assert mean["calls"] == len(SIZES) and mean["count"] == y.numel()
    std = np.sqrt(second["value"] - mean["value"] ** 2)
    np.testing.assert_allclose(std, y.std(unbiased=False).item(), rtol=1e-9)


@pytest.mark.parametrize("shape", [(200, 5, 3, 4), (200, 7)])
def test_channel_skewness_matches_scipy_on_the_whole_set(shape: tuple[int, ...]) -> None:
    shift = torch.linspace(-2, 2, shape[1]).reshape(1, -1, *([1] * (len(shape) - 2)))
    x = torch.randn(*shape, dtype=torch.float64) * 1.5 + shift  # Tanh(shifted) is skewed both ways
    result = run(nn.Tanh(), probes.ChannelSkewness(where=nn.Tanh), x)[""]
    expected = scipy.stats.skew(channels_last(torch.tanh(x)), axis=0, bias=False)
    np.testing.assert_allclose(result["skewness"], expected, rtol=1e-9)
    np.testing.assert_allclose(result["value"], np.abs(expected).mean(), rtol=1e-9)
    assert result["constant_channels"] == 0 and result["count"] == x.numel() // shape[1]


def test_channel_skewness_leaves_constant_channels_out() -> None:
    x = torch.randn(200, 4, 3).exp()
    x[:, 2] = -x[:, 2]  # the ReLU kills channel 2: a constant channel has no skewness
    result = run(nn.ReLU(), probes.ChannelSkewness(), x)[""]
    assert result["constant_channels"] == 1 and np.isnan(result["skewness"][2])
    expected = scipy.stats.skew(channels_last(torch.relu(x))[:, [0, 1, 3]], axis=0, bias=False)
    np.testing.assert_allclose(result["value"], np.abs(expected).mean(), rtol=1e-6)


class LeCunTanh(nn.Module):
    asymptote = 1.7159

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(2 * x / 3)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * 2 / 3 * (1 - torch.tanh(2 * x / 3) ** 2)


@pytest.mark.parametrize(
    "module, asymptote",
    [(nn.Tanh(), 1.0), (nn.Softsign(), 1.0), (nn.Hardtanh(-2.0, 3.0), 3.0), (LeCunTanh(), 1.7159)],
)
def test_saturation_is_mean_abs_output_over_the_asymptote(module: nn.Module, asymptote: float) -> None:
    x = torch.randn(200, 3, 2, dtype=torch.float64) * 3
    result = run(module, probes.Saturation(where=type(module)), x)[""]
    expected = module(x).abs().mean().item() / asymptote
    np.testing.assert_allclose(result["value"], expected, rtol=1e-12)
    assert result["asymptote"] == asymptote and 0 < result["value"] < 1


def test_saturation_with_a_given_asymptote() -> None:
    x = torch.randn(200, 3, dtype=torch.float64)
    result = run(nn.Identity(), probes.Saturation(where=nn.Identity, asymptote=4.0), x)[""]
    np.testing.assert_allclose(result["value"], x.abs().mean().item() / 4.0, rtol=1e-12)
    with pytest.raises(ValueError, match="asymptote must be positive"):
        probes.Saturation(asymptote=0.0)


@pytest.mark.parametrize("shape", [(200, 6, 3, 3), (200, 6)])
def test_sparsity_uses_each_channels_maximum_over_the_whole_set(shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape, dtype=torch.float64) * torch.arange(1, 7, dtype=torch.float64).reshape(
        1, 6, *([1] * (len(shape) - 2))
    )
    x[:, 3] = 0.0  # an all-zero channel counts as fully sparse
    x[150, 1] = 40.0  # a channel maximum that only the last batch sees
    result = run(nn.Identity(), probes.Sparsity(where=nn.Identity), x)[""]
    g = np.abs(channels_last(x))
    peak = g.max(0)
    ratio = np.divide(g, peak, out=np.zeros_like(g), where=peak > 0)
    np.testing.assert_allclose(result["value"], 1 - ratio.mean(), rtol=1e-12)
    np.testing.assert_allclose(result["channel_max"], peak, rtol=0)


def test_nonzero_ratio_counts_exactly() -> None:
    x = torch.randn(200, 5, 4)
    result = run(nn.ReLU(), probes.NonZeroRatio(), x)[""]
    assert result["value"] == (x > 0).sum().item() / x.numel()
