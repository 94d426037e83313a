import pytest
import torch
from torch import nn

from normact.nn import ConvBlock, CReLU, LinearBlock, NReLU, Tanh, nwdbn_param_groups


@pytest.mark.parametrize(
    ("order", "children"),
    [
        ("convention", ["layer", "norm", "act"]),
        ("swap", ["layer", "act", "norm"]),
        ("none", ["layer", "act"]),
    ],
)
def test_orders(order, children):
    block = ConvBlock(3, 8, order=order, act_layer="tanh")
    assert [n for n, _ in block.named_children()] == children
    assert isinstance(block.act, Tanh)
    assert (block.layer.bias is None) == (order == "convention")
    x = torch.randn(2, 3, 6, 6)
    expected = x
    for name in children:
        expected = getattr(block, name)(expected)
    torch.testing.assert_close(block(x), expected)
    assert f"order={order}" in repr(block)


def test_affine_switch_and_anact_placement():
    block = ConvBlock(3, 4, act_layer=NReLU, affine=False)
    assert block.norm.weight is None and block.norm.bias is None
    assert isinstance(block.act, NReLU)
    assert LinearBlock(5, 6, affine=True).norm.weight.shape == (6,)


def test_crelu_doubles_features_and_swap_norm_follows():
    swap = ConvBlock(3, 4, order="swap", act_layer=CReLU)
    assert swap.norm.num_features == 8 and swap.out_features == 8
    conv = ConvBlock(3, 4, order="convention", act_layer="crelu")
    assert conv.norm.num_features == 4 and conv(torch.randn(2, 3, 5, 5)).shape == (2, 8, 5, 5)
    assert LinearBlock(3, 4, order="none", act_layer=None)(torch.randn(2, 3)).shape == (2, 4)


def test_bad_order():
    with pytest.raises(
        ValueError, match=r"unknown block order 'swapped'; choose from \['convention', 'swap', 'none'\]"
    ):
        ConvBlock(3, 4, order="swapped")


def test_nwdbn_groups():
    model = nn.Sequential(ConvBlock(3, 4), ConvBlock(4, 4, order="swap"), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 3, 4, 4))
    model[1].layer.bias.requires_grad_(False)
    decay, no_decay = nwdbn_param_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    norm_params = {id(p) for b in (model[0], model[1]) for p in b.norm.parameters()}
    assert {id(p) for p in no_decay["params"]} == norm_params
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in decay["params"]} == trainable - norm_params
    torch.optim.SGD([decay, no_decay], lr=0.1)
