import itertools

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from normact.models import VGG, create_model
from normact.nn import NormalizedActivation, NReLU, ReLU, Tanh

from .helpers import bn, call_order, conv, forward_backward, linear, num_params

# The convolution filters of VGG16 (configuration D of Simonyan & Zisserman), written out here.
VGG16_FILTERS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
VGG19_FILTERS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]


def expected_count(filters, order, num_classes, hidden=512, pool=1, c_in=3, affine=None):
    """Parameters of a VGG from its filters: conv (+ BN) per layer, then fc1, fc2 (+ BN) and the head."""
    affine = affine or [True] * (len(filters) + 2)
    has_bn, bias = order != "none", order != "convention"
    total, c = 0, c_in
    for f, a in zip(filters, affine):
        total += conv(c, f, 3, bias=bias) + (bn(f, a) if has_bn else 0)
        c = f
    units = c * pool * pool
    for h, a in zip((hidden, hidden), affine[len(filters) :]):
        total += linear(units, h, bias=bias) + (bn(h, a) if has_bn else 0)
        units = h
    return total + linear(units, num_classes)


@pytest.mark.parametrize("name", ["vgg16", "vgg16_11", "vgg19"])
@pytest.mark.parametrize("order", ["convention", "swap", "none"])
def test_forward_backward_tiny(name, order):
    model = create_model(
        name, num_classes=7, input_shape=(3, 32, 32), act="tanh", width=0.125, block_order=order
    )
    assert isinstance(model, VGG)
    forward_backward(model, torch.randn(2, 3, 32, 32), 7)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert (len(norms) == 0) == (order == "none")


@pytest.mark.parametrize("order", ["convention", "swap", "none"])
def test_vgg16_cifar_count(order):
    model = create_model("vgg16", num_classes=100, input_shape=(3, 32, 32), block_order=order)
    assert num_params(model) == expected_count(VGG16_FILTERS, order, 100)


def test_vgg16_imagenet_count():
    with torch.device("meta"):
        model = create_model(
            "vgg16",
            num_classes=1000,
            input_shape=(3, 224, 224),
            init="torch",
            block_order="none",
            pool_size=7,
            classifier_width=4096,
        )
    expected = expected_count(VGG16_FILTERS, "none", 1000, hidden=4096, pool=7)
    assert num_params(model) == expected == 138_357_544  # torchvision's vgg16


def test_vgg16_11_keeps_eight_convolutions_and_three_fc():
    model = create_model("vgg16_11", num_classes=100, input_shape=(3, 32, 32))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == VGG16_FILTERS[:8]
    assert len(convs) + len(linears) == 11
    assert num_params(model) == expected_count(VGG16_FILTERS[:8], "convention", 100)
    # 32x32 -> four pools (the 8th convolution opens stage 4) -> 2x2, averaged to 1x1
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 4
    assert VGG(16, num_layers=14).features[-2].layer.out_channels == 512


def test_vgg19_anact_placement():
    """ANAct 3.2: top three activations plain, no BN affine before a normalized one, a buffer BN."""
    model = create_model("vgg19", num_classes=100, input_shape=(3, 32, 32), act="nrelu", width=0.25)
    x = torch.randn(4, 3, 32, 32)
    calls = call_order(model, x, (NormalizedActivation, ReLU, _BatchNorm, nn.Linear))
    acts = [m for _, m in calls if isinstance(m, (NormalizedActivation, ReLU))]
    assert len(acts) == 16 + 2
    assert all(isinstance(a, NReLU) for a in acts[:-3])
    assert all(type(a) is ReLU for a in acts[-3:])
    # Convention: each BN runs right before its block's activation; affine off exactly before NReLU.
    for (_, prev), (_, nxt) in itertools.pairwise(calls):
        if isinstance(prev, _BatchNorm):
            assert isinstance(nxt, (NormalizedActivation, ReLU))
            assert prev.affine == (not isinstance(nxt, NormalizedActivation))
    # The buffer: a BN with its affine transform between the last normalized activation and the head.
    last_normalized = max(i for i, (_, m) in enumerate(calls) if isinstance(m, NormalizedActivation))
    head = [i for i, (name, _) in enumerate(calls) if name == "classifier.head"]
    between = [m for _, m in calls[last_normalized + 1 : head[0]] if isinstance(m, _BatchNorm)]
    assert between and all(m.affine for m in between)
    # 15 normalized layers: their BNs lose 2 C parameters each and their activations add one alpha.
    relu = create_model("vgg19", num_classes=100, input_shape=(3, 32, 32), act="relu", width=0.25)
    filters = [f // 4 for f in VGG19_FILTERS]
    assert num_params(relu) - num_params(model) == sum(2 * f for f in filters[:15]) - 15
    affine = [False] * 15 + [True] * 3
    assert num_params(model) == expected_count(filters, "convention", 100, hidden=128, affine=affine) + 15


def test_plain_top_zero_and_non_normalized_acts():
    all_normalized = create_model("vgg19", act="nswish", width=0.125, plain_top=0)
    assert sum(isinstance(m, NormalizedActivation) for m in all_normalized.modules()) == 18
    tanh = create_model("vgg16", act="tanh", width=0.125)
    assert sum(isinstance(m, Tanh) for m in tanh.modules()) == 15  # plain_top leaves tanh as is
    nobn = create_model("vgg19", act="nrelu", width=0.125, block_order="none")
    assert sum(isinstance(m, NReLU) for m in nobn.modules()) == 15


def test_swap_norm_follows_the_activation_and_keeps_affine():
    model = create_model("vgg16_11", act="nrelu", width=0.125, block_order="swap")
    block = model.features.conv1_1
    assert [n for n, _ in block.named_children()] == ["layer", "act", "norm"]
    assert all(m.affine for m in model.modules() if isinstance(m, _BatchNorm))


def test_small_inputs_and_classifier_options():
    model = create_model("vgg16", num_classes=10, input_shape=(1, 28, 28), width=0.125, classifier_width=None)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 4  # 28 -> 14 -> 7 -> 3 -> 1
    assert [n for n, _ in model.classifier.named_children()] == ["flatten", "head"]
    forward_backward(model, torch.randn(2, 1, 28, 28), 10)
    tiny = create_model("vgg16_11", num_classes=200, input_shape=(3, 64, 64), width=0.125, pool_size=2)
    forward_backward(tiny, torch.randn(2, 3, 64, 64), 200)
    assert tiny.classifier.fc1.layer.in_features == 64 * 4


def test_errors():
    with pytest.raises(ValueError, match=r"unknown VGG depth 17; choose from \[11, 13, 16, 19\]"):
        VGG(17)
    with pytest.raises(ValueError, match=r"num_layers must be in \[4, 16\] for VGG16"):
        VGG(16, num_layers=3)
    with pytest.raises(ValueError, match=r"plain_top must be in \[0, 15\]"):
        VGG(16, plain_top=16)
    with pytest.raises(ValueError, match="unknown block_order 'nobn'"):
        VGG(16, block_order="nobn")
    with pytest.raises(ValueError, match="width must be a positive multiplier"):
        VGG(16, width=0)
