import math

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parametrize

from normact.models import MobileNetV1, SeparableBlock, create_model
from normact.nn import SELU, Tanh

from .helpers import bn, conv, forward_backward, linear, num_params

# (filters, stride) of MobileNet V1's 13 separable blocks (Howard et al. 2017, Table 1), written out.
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


def expected_count(num_classes, depthwise, order, c_in=3, width=1.0):
    has_bn, bias = order != "none", order != "convention"
    c = round(32 * width)
    total = conv(c_in, c, 3, bias) + (bn(c) if has_bn else 0)
    for filters, _ in BLOCKS:
        f = round(filters * width)
        total += conv(c, c, 3, bias, groups=c if depthwise else 1) + (bn(c) if has_bn else 0)
        total += conv(c, f, 1, bias) + (bn(f) if has_bn else 0)
        c = f
    return total + linear(c, num_classes)


def test_imagenet_count():
    with torch.device("meta"):
        model = create_model("mobilenet_v1", num_classes=1000, input_shape=(3, 224, 224), init="torch")
    assert num_params(model) == expected_count(1000, True, "convention") == 4_231_976  # Howard et al.: 4.2M
    assert model.stem.layer.stride == (2, 2)
    assert len([m for m in model.modules() if isinstance(m, nn.Conv2d)]) == 27


@pytest.mark.parametrize("order", ["convention", "swap", "none"])
def test_bounded_paper_blocks(order):
    model = create_model(
        "mobilenet_v1", num_classes=100, input_shape=(3, 16, 16), act="tanh", block_order=order, width=0.125
    )
    assert num_params(model) == expected_count(100, True, order, width=0.125)
    assert model.stem.layer.stride == (1, 1)  # small input: no stride in the stem
    block = model.blocks.block2
    assert isinstance(block, SeparableBlock)
    assert block.spatial.layer.groups == block.spatial.layer.in_channels
    assert block.spatial.layer.stride == (2, 2)
    children = {
        "convention": ["layer", "norm", "act"],
        "swap": ["layer", "act", "norm"],
        "none": ["layer", "act"],
    }
    assert [n for n, _ in block.pointwise.named_children()] == children[order]
    assert sum(isinstance(m, Tanh) for m in model.modules()) == 27
    forward_backward(model, torch.randn(2, 3, 16, 16), 100)


def test_conv_mobilenet_defaults():
    """Self-normalization paper 6.3: full 3x3 convolutions, SELU, no BN, N(0, 1/fan_in), centralization."""
    model = create_model(
        "conv_mobilenet_v1", num_classes=10, input_shape=(3, 16, 16), width=0.25, centralize=True
    )
    assert not model.depthwise
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert sum(isinstance(m, SELU) for m in model.modules()) == 27
    assert num_params(model) == expected_count(10, False, "none", width=0.25)
    weights = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all(parametrize.is_parametrized(m, "weight") for m in weights)
    big = model.blocks.block13.spatial.layer  # 256 -> 256 filters of 3x3
    w = big.weight.flatten(1)
    torch.testing.assert_close(w.mean(1), torch.zeros(w.shape[0]), atol=1e-6, rtol=0)
    assert big.parametrizations.weight.original.std().item() == pytest.approx(
        1 / math.sqrt(w.shape[1]), rel=0.02
    )
    forward_backward(model, torch.randn(2, 3, 16, 16), 10)


def test_conv_mobilenet_with_a_solved_selu():
    model = create_model(
        "conv_mobilenet_v1",
        act="lselu",
        act_kwargs={"eps": 0.06, "trainable_lambda": True},
        width=0.0625,
        input_shape=(3, 16, 16),
    )
    lams = [m.lam for m in model.modules() if hasattr(m, "lam")]
    assert len(lams) == 27 and all(isinstance(lam, nn.Parameter) for lam in lams)
    assert len({id(lam) for lam in lams}) == 27  # one trainable lambda per layer
    forward_backward(model, torch.randn(2, 3, 16, 16), 10)


def test_stem_stride_and_errors():
    assert MobileNetV1(input_shape=(3, 128, 128), width=0.125).stem.layer.stride == (2, 2)
    assert MobileNetV1(input_shape=(3, 64, 64), width=0.125, stem_stride=2).stem.layer.stride == (2, 2)
    with pytest.raises(ValueError, match=r"MobileNetV1 takes images"):
        MobileNetV1(input_shape=(3, 32))
    with pytest.raises(ValueError, match="unknown block_order 'Swap'"):
        MobileNetV1(block_order="Swap")
