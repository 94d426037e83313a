import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from normact.models import BasicBlock, Bottleneck, PadShortcut
from normact.models._common import ActFactory
from normact.models.residual import ResidualUnits
from normact.nn import CReLU, NormPropConv2d, NReLU, NSwish, ReLU, Swish


def units(norm="bn", act="relu", **kwargs) -> ResidualUnits:
    return ResidualUnits(norm, ActFactory(act), **kwargs)


def test_pad_shortcut_subsamples_and_appends_zero_channels():
    x = torch.randn(2, 3, 7, 5)
    y = PadShortcut(3, 8, 2)(x)
    assert y.shape == (2, 8, 4, 3)
    torch.testing.assert_close(y[:, :3], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 3:]) == 0
    with pytest.raises(ValueError, match=r"cannot reduce channels \(8 -> 4\)"):
        PadShortcut(8, 4, 1)


@pytest.mark.parametrize("block_type", [BasicBlock, Bottleneck])
def test_block_is_act_of_branch_plus_shortcut(block_type):
    block = block_type(8, 4, 2, units()).eval()
    x = torch.randn(2, 8, 6, 6)
    branch = block.conv2(block.conv1(x))
    if block_type is Bottleneck:
        branch = block.conv3(branch)
    torch.testing.assert_close(block(x), torch.relu(branch + block.shortcut(x)))
    assert block(x).shape == (2, block.out_channels, 3, 3) and block.out_channels == 4 * block.expansion


def test_crelu_doubles_the_next_convolution_only_inside_the_branch():
    basic = BasicBlock(16, 16, 1, units(act="crelu"))
    assert isinstance(basic.conv1.act, CReLU) and basic.conv2.layer.in_channels == 32
    assert basic.conv2.layer.out_channels == 16 and isinstance(basic.shortcut, nn.Identity)
    assert type(basic.act) is ReLU  # the identity path keeps its channels
    bottleneck = Bottleneck(64, 16, 2, units(act="crelu"))
    assert [type(m) for m in bottleneck.modules() if isinstance(m, (CReLU, ReLU))] == [CReLU, CReLU, ReLU]
    assert bottleneck.conv2.layer.in_channels == 32 and bottleneck.conv3.layer.in_channels == 32
    assert bottleneck(torch.randn(2, 64, 8, 8)).shape == (2, 64, 4, 4)


def test_anact_rule_in_a_bottleneck():
    """ANAct Fig. 6: normalized activations after conv1 and conv2, a plain one after the addition."""
    block = Bottleneck(32, 8, 1, units(act="nswish"))
    assert isinstance(block.conv1.act, NSwish) and isinstance(block.conv2.act, NSwish)
    assert not block.conv1.norm.affine and not block.conv2.norm.affine
    assert block.conv3.norm.affine and not hasattr(block.conv3, "act")
    assert type(block.act) is Swish
    forced = Bottleneck(32, 8, 1, units(act="nrelu", norm_affine=True))
    assert forced.conv1.norm.affine and isinstance(forced.conv1.act, NReLU)


@pytest.mark.parametrize(("norm", "variant"), [("normprop", 1), ("normprop2", 2), ("normprop3", 3)])
@pytest.mark.parametrize("act", ["relu", "crelu"])
def test_normprop_blocks(norm, variant, act):
    for shortcut in ("A", "B"):
        block = BasicBlock(8, 16, 2, units(norm, act, shortcut=shortcut))
        assert isinstance(block.conv1, NormPropConv2d) and isinstance(block.conv2, NormPropConv2d)
        assert (block.conv1.variant, block.conv1.act, block.conv2.act) == (variant, act, None)
        assert block.conv2.in_channels == 16 * (2 if act == "crelu" else 1)
        assert isinstance(block.conv1.gamma, nn.Parameter) == (variant != 3)
        # NormProp networks put a BN on the shortcut that changes the shape (SEED-NOTES)
        first = PadShortcut if shortcut == "A" else nn.Conv2d
        assert [type(m) for m in block.shortcut] == [first, nn.BatchNorm2d]
        assert type(block.act) is ReLU
        assert block(torch.randn(2, 8, 6, 6)).shape == (2, 16, 3, 3)


def test_shortcuts_of_bn_and_plain_networks():
    assert [type(m) for m in BasicBlock(8, 16, 2, units(shortcut="A")).shortcut] == [PadShortcut]
    assert [type(m) for m in BasicBlock(8, 16, 2, units()).shortcut] == [nn.Conv2d, nn.BatchNorm2d]
    plain = BasicBlock(8, 16, 2, units("plain"))
    assert [type(m) for m in plain.shortcut] == [nn.Conv2d] and plain.shortcut[0].bias is not None
    assert plain.conv1.layer.bias is not None and not any(isinstance(m, _BatchNorm) for m in plain.modules())
    assert BasicBlock(8, 16, 2, units("plain", bias=False)).conv1.layer.bias is None


def test_errors():
    with pytest.raises(
        ValueError, match=r"unknown norm 'batchnorm'; choose from \['bn', 'plain', 'normprop'"
    ):
        units("batchnorm")
    with pytest.raises(ValueError, match=r"unknown shortcut 'C'; choose from \['A', 'B'\]"):
        units(shortcut="C")
    with pytest.raises(ValueError, match="NormProp networks take act 'relu' or 'crelu'"):
        units("normprop2", "tanh")
