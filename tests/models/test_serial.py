import math

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parametrize

from normact.models import SerialCNN, create_model
from normact.nn import DSELU, SELU, ReLU
from normact.theory import solve

from .helpers import bn, conv, forward_backward, linear, num_params


def expected_count(n, num_classes, order="none", c_in=3, widths=(16, 32, 64)):
    """Stem, three stages of 2n 3x3 convolutions (stride 2 opens stages 2 and 3), the head."""
    has_bn, bias = order != "none", order != "convention"
    total, c = 0, c_in
    for f in [widths[0]] + [w for w in widths for _ in range(2 * n)]:
        total += conv(c, f, 3, bias) + (bn(f) if has_bn else 0)
        c = f
    return total + linear(c, num_classes)


def test_table4_layout():
    model = create_model("serial_cnn", num_classes=100, input_shape=(3, 32, 32))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 56
    assert [c.out_channels for c in convs] == [16] * 19 + [32] * 18 + [64] * 18
    assert [i for i, c in enumerate(convs) if c.stride == (2, 2)] == [19, 37]
    assert sum(isinstance(m, SELU) for m in model.modules()) == 55
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert num_params(model) == expected_count(9, 100)
    # N(0, 1/fan_in) on the 64-filter convolutions (fan-in 576): the paper's initialisation
    w = torch.cat([c.weight.flatten() for c in convs[-17:]])
    assert w.std().item() == pytest.approx(1 / math.sqrt(64 * 9), rel=0.01)
    assert abs(w.mean().item()) < 3 / math.sqrt(w.numel() * 64 * 9)


@pytest.mark.parametrize("order", ["none", "convention", "swap"])
def test_forward_backward_tiny(order):
    model = create_model(
        "serial_cnn",
        num_classes=10,
        input_shape=(3, 16, 16),
        depth=20,
        width=0.25,
        block_order=order,
        act="relu" if order != "none" else "selu",
    )
    forward_backward(model, torch.randn(2, 3, 16, 16), 10)
    assert num_params(model) == expected_count(3, 10, order, widths=(4, 8, 16))


def test_tiny_imagenet_input_and_solved_dselu_with_centralization():
    model = create_model(
        "serial_cnn",
        num_classes=200,
        input_shape=(3, 64, 64),
        depth=8,
        width=0.25,
        act="dselu",
        act_kwargs={"eps": 0.017},
        centralize=True,
    )
    sol = solve("dselu", 0.017)
    acts = [m for m in model.modules() if isinstance(m, DSELU)]
    assert len(acts) == 7 and all((a.lam, a.alpha) == pytest.approx((sol.lam, sol.alpha)) for a in acts)
    assert all(parametrize.is_parametrized(m, "weight") for m in model.modules() if isinstance(m, nn.Conv2d))
    forward_backward(model, torch.randn(2, 3, 64, 64), 200)


def test_bn_relu_baseline_and_errors():
    model = SerialCNN(depth=14, act_layer="relu", block_order="convention")
    assert sum(isinstance(m, _BatchNorm) for m in model.modules()) == 13
    assert sum(isinstance(m, ReLU) for m in model.modules()) == 13
    with pytest.raises(ValueError, match=r"depth must be 6n \+ 2 with n >= 1 \(20, 56, 110, ...\), got 54"):
        SerialCNN(depth=54)
