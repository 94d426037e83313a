import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from normact.models import BasicBlock, PadShortcut, create_model
from normact.nn import CReLU, NormPropConv2d

from .helpers import forward_backward, num_params, resnet_count

CIFAR = {"stem_kernel": 3, "shortcut": "A"}


def test_resnet110():
    model = create_model("resnet_cifar", num_classes=10, input_shape=(3, 32, 32))
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    weight_layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(blocks) == 54 and len(weight_layers) == 110
    assert [b.out_channels for b in blocks] == [16] * 18 + [32] * 18 + [64] * 18
    assert [type(b.shortcut) for b in blocks].count(nn.Sequential) == 2  # the two downsampling blocks
    count = num_params(model)
    assert count == resnet_count(False, (18, 18, 18), (16, 32, 64), 10, **CIFAR)
    assert round(count / 1e6, 1) == 1.7  # He et al. (2016), Table 6: 1.7M


@pytest.mark.parametrize("norm", ["plain", "bn", "normprop", "normprop2", "normprop3"])
@pytest.mark.parametrize("act", ["relu", "crelu"])
def test_crelu_paper_grid(norm, act):
    """Fig. 1 / Table 2 of the CReLU paper: {Plain, BN, NormProp 1-3} x {ReLU, CReLU}, at depth 20."""
    model = create_model(
        "resnet_cifar",
        depth=20,
        num_classes=100,
        input_shape=(3, 32, 32),
        width=0.5,
        norm=norm,
        act=act,
        init="he" if norm == "bn" else "xavier",
    )
    m = 2 if act == "crelu" else 1
    assert num_params(model) == resnet_count(
        False, (3, 3, 3), (8, 16, 32), 100, norm=norm, multiplier=m, **CIFAR
    )
    block = model.layer2[0]
    if norm.startswith("normprop"):
        assert isinstance(block.conv1, NormPropConv2d) and block.conv1.act == act
        assert block.conv1.variant == {"normprop": 1, "normprop2": 2, "normprop3": 3}[norm]
        assert [type(s) for s in block.shortcut] == [PadShortcut, nn.BatchNorm2d]
        assert block.conv2.in_channels == 16 * m
    else:
        assert [type(s) for s in block.shortcut] == [PadShortcut]
        assert block.conv2.layer.in_channels == 16 * m
        assert any(isinstance(x, _BatchNorm) for x in model.modules()) == (norm == "bn")
    crelus = sum(isinstance(x, CReLU) or getattr(x, "act", None) == "crelu" for x in model.modules())
    assert crelus == (9 if act == "crelu" else 0)  # one per block (NormProp layers carry theirs)
    forward_backward(model, torch.randn(2, 3, 32, 32), 100)


def test_narrow_crelu_model_and_plain_without_bias():
    narrow = create_model("resnet_cifar", depth=20, act="crelu", width=0.75)
    assert [narrow.layer1[0].out_channels, narrow.layer2[0].out_channels, narrow.layer3[0].out_channels] == [
        12,
        24,
        48,
    ]
    unbiased = create_model("resnet_cifar", depth=8, norm="plain", bias=False)
    assert all(c.bias is None for c in unbiased.modules() if isinstance(c, nn.Conv2d))
    assert num_params(unbiased) == resnet_count(
        False, (1, 1, 1), (16, 32, 64), 10, norm="plain", bias=False, **CIFAR
    )


def test_small_grayscale_input_and_shortcut_b():
    model = create_model(
        "resnet_cifar", depth=8, num_classes=10, input_shape=(1, 28, 28), width=0.5, shortcut="B"
    )
    assert num_params(model) == resnet_count(False, (1, 1, 1), (8, 16, 32), 10, c_in=1, stem_kernel=3)
    forward_backward(model, torch.randn(2, 1, 28, 28), 10)


def test_depth_error():
    with pytest.raises(
        ValueError, match=r"depth must be 6n \+ 2 with n >= 1 \(20, 32, 44, 56, 110, ...\), got 52"
    ):
        create_model("resnet_cifar", depth=52)
