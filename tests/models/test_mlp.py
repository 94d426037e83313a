import math

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parametrize

from normact.models import MLP, create_model
from normact.nn import SELU, NReLU

from .helpers import bn, forward_backward, linear, num_params


def test_64_layer_snn():
    model = create_model("mlp", num_classes=2, input_shape=(50,), width=64)
    assert len(model.blocks) == 64 and sum(isinstance(m, SELU) for m in model.modules()) == 64
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert num_params(model) == linear(50, 64) + 63 * linear(64, 64) + linear(64, 2)
    w = torch.cat([b.layer.weight.flatten() for b in model.blocks[1:]])
    assert w.std().item() == pytest.approx(1 / math.sqrt(64), rel=0.01)  # N(0, 1/fan_in)
    # Self-normalization: SELU keeps the second moment of the pre-activations near 1 through 64 layers.
    with torch.no_grad():
        h = torch.randn(4096, 50)
        for block in model.blocks:
            pre = block.layer(h)
            h = block.act(pre)
    assert pre.pow(2).mean().item() == pytest.approx(1.0, abs=0.25)
    forward_backward(model, torch.randn(2, 50), 2)


def test_images_are_flattened_and_options():
    model = create_model(
        "mlp",
        num_classes=10,
        input_shape=(1, 8, 8),
        depth=3,
        width=16,
        act="nrelu",
        block_order="convention",
        init="xavier",
        centralize=True,
    )
    assert all(not b.norm.affine and isinstance(b.act, NReLU) for b in model.blocks)
    assert all(parametrize.is_parametrized(m, "weight") for m in model.modules() if isinstance(m, nn.Linear))
    assert num_params(model) == linear(64, 16, False) + 2 * linear(16, 16, False) + linear(16, 10) + 3
    forward_backward(model, torch.randn(2, 1, 8, 8), 10)
    swap = MLP(depth=2, width=8, input_shape=(5,), act_layer="tanh", block_order="swap")
    assert num_params(swap) == linear(5, 8) + bn(8) + linear(8, 8) + bn(8) + linear(8, 2)


def test_errors():
    with pytest.raises(ValueError, match="depth and width must be positive ints, got depth=0, width=8"):
        MLP(depth=0, width=8)
    with pytest.raises(ValueError, match="unknown init 'lecun_normal'"):
        create_model("mlp", init="lecun_normal")
