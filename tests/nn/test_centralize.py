import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from normact.nn import WeightCentralization, centralize_weights


def test_parametrization_centres_each_output_row():
    conv = nn.Conv2d(3, 8, 3)
    parametrize.register_parametrization(conv, "weight", WeightCentralization())
    assert conv.weight.flatten(1).mean(1).abs().max() < 1e-6
    original = conv.parametrizations.weight.original
    torch.testing.assert_close(conv.weight, original - original.mean((1, 2, 3), keepdim=True))
    conv(torch.randn(2, 3, 5, 5)).sum().backward()
    # the gradient reaching the free weight is centred too (a projection)
    assert original.grad.flatten(1).mean(1).abs().max() < 1e-5


def test_helper_applies_once_to_linear_and_conv():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2), nn.BatchNorm1d(2))
    centralize_weights(model)
    centralize_weights(model)
    assert parametrize.is_parametrized(model[0], "weight") and parametrize.is_parametrized(model[3], "weight")
    assert len(model[3].parametrizations.weight) == 1
    assert not parametrize.is_parametrized(model[4])
    assert model[3].weight.mean(1).abs().max() < 1e-6
    assert model(torch.randn(5, 3, 3, 3)).shape == (5, 2)


def test_rejects_vectors():
    with pytest.raises(ValueError, match="needs a weight with an input dimension"):
        WeightCentralization()(torch.randn(3))
