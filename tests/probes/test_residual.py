import numpy as np
import pytest
import torch
from torch import nn

from normact import probes

from .batches import split


class Block(nn.Module):
    """``x + conv(relu(x))`` with an in-place ReLU that overwrites the block input."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x.clone()
        return identity + self.conv(self.relu(x))


class Down(nn.Module):
    """A block that halves the resolution and doubles the channels, with a projection shortcut."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.shortcut = nn.Conv2d(c, 2 * c, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv(x)


def delta(x_in: torch.Tensor, x_out: torch.Tensor) -> float:
    """The paper's Delta from whole-set tensors: channel L2 norm per position, averaged."""
    d = (x_out - x_in).double().numpy()
    return float(np.sqrt((d**2).sum(1)).mean())


def test_delta_streams_to_the_whole_set_value() -> None:
    model = nn.Sequential(Block(4), Block(4)).double()
    x = torch.randn(200, 4, 5, 5, dtype=torch.float64)
    with probes.attach(model, probes.ResidualDelta(where=Block)) as p:
        for part in split(x):
            model(part.clone())
    with torch.no_grad():
        h1 = model[0](x.clone())
        h2 = model[1](h1.clone())
    result = p.results()["residual_delta"]
    np.testing.assert_allclose(result["0"]["value"], delta(x, h1), rtol=1e-12)
    np.testing.assert_allclose(result["1"]["value"], delta(h1, h2), rtol=1e-12)
    assert result["0"]["count"] == 200 * 25


def test_blocks_that_change_shape_need_a_shortcut() -> None:
    model = nn.Sequential(Down(3))
    x = torch.randn(10, 3, 6, 6)
    with probes.attach(model, probes.ResidualDelta(where=Down)), pytest.raises(ValueError, match="shortcut="):
        model(x)
    with probes.attach(model, probes.ResidualDelta(where=Down, shortcut="shortcut")) as p:
        model(x)
    with torch.no_grad():
        expected = delta(model[0].shortcut(x), model(x))
    np.testing.assert_allclose(p.results()["residual_delta"]["0"]["value"], expected, rtol=1e-5)


def test_delta_needs_blocks() -> None:
    with pytest.raises(ValueError, match="needs where="):
        probes.ResidualDelta(where=None)
