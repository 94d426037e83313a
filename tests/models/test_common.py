import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from normact.models._common import ActFactory, affine_for, finish, image_shape, scale
from normact.nn import (
    SSELU,
    CReLU,
    LeakyReLU,
    NLReLU,
    NormalizedActivation,
    NReLU,
    NSwish,
    ReLU,
    Softplus,
    Swish,
    WeightCentralization,
)
from normact.theory import solve


def test_factory_makes_a_new_module_each_call_with_its_kwargs():
    act = ActFactory("nrelu", {"momentum": 0.05})
    a, b = act(), act()
    assert isinstance(a, NReLU) and a is not b and a.momentum == 0.05
    assert act.normalized and act.multiplier == 1
    assert ActFactory(CReLU).multiplier == 2 and not ActFactory("relu").normalized


def test_factory_solves_a_selu_family_for_eps():
    act = ActFactory("sselu", {"eps": 0.03, "central": True})()
    sol = solve("sselu", 0.03, central=True)
    assert isinstance(act, SSELU)
    assert (act.lam, act.alpha, act.beta) == pytest.approx((sol.lam, sol.alpha, sol.beta))


@pytest.mark.parametrize(
    ("act", "plain", "single"),
    [
        ("nrelu", ReLU, NReLU),
        ("nswish", Swish, NSwish),
        ("relu", ReLU, ReLU),
        ("crelu", CReLU, ReLU),
    ],
)
def test_plain_and_single_counterparts(act, plain, single):
    factory = ActFactory(act)
    assert type(factory.plain()()) is plain
    assert type(factory.single()()) is single
    assert type(factory.plain().single()()) is (ReLU if act == "crelu" else plain)


def test_plain_keeps_the_base_parameters():
    plain = ActFactory(NLReLU, {"negative_slope": 0.2}).plain()()
    assert isinstance(plain, LeakyReLU) and plain.negative_slope == 0.2
    base = Softplus(beta=2.0)  # a module base with its derivative
    custom = ActFactory(lambda: NormalizedActivation(base)).plain()()
    assert isinstance(custom, Softplus) and custom.beta == 2.0 and custom is not base


def test_unknown_activation_is_reported_at_once():
    with pytest.raises(ValueError, match="unknown activation 'nrelux'"):
        ActFactory("nrelux")


def test_affine_rule():
    assert affine_for("convention", ActFactory("nrelu"), None) is False
    assert affine_for("convention", ActFactory("relu"), None) is True
    assert affine_for("swap", ActFactory("nrelu"), None) is True  # the BN follows the activation
    assert affine_for("convention", ActFactory("nrelu"), True) is True
    assert affine_for("convention", None, None) is True


def test_scale_and_shapes():
    assert [scale(c, 0.75) for c in (16, 32, 64)] == [12, 24, 48]
    assert scale(3, 0.01) == 1
    assert image_shape([3, 32, 32], "VGG16") == (3, 32, 32)
    with pytest.raises(
        ValueError, match=r"VGG16 takes images: input_shape must be \(C, H, W\), got \(784,\)"
    ):
        image_shape((784,), "VGG16")


def test_finish_centralizes_then_initialises():
    model = nn.Sequential(nn.Linear(400, 300), nn.Conv2d(16, 8, 3))
    finish(model, "lecun", centralize=True)
    for layer in model:
        assert parametrize.is_parametrized(layer, "weight")
        assert isinstance(layer.parametrizations.weight[0], WeightCentralization)
        w = layer.weight.flatten(1)
        torch.testing.assert_close(w.mean(1), torch.zeros(w.shape[0]), atol=1e-6, rtol=0)
        raw = layer.parametrizations.weight.original
        fan_in = raw[0].numel()
        assert raw.std().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.05)  # N(0, 1/fan_in)
        assert torch.count_nonzero(layer.bias) == 0
    torch_default = nn.Linear(4, 4)
    before = torch_default.weight.clone()
    finish(torch_default, "torch")
    assert torch.equal(torch_default.weight, before)
    with pytest.raises(
        ValueError, match=r"unknown init 'kaiming'; choose from \['he', 'lecun', 'orthogonal'"
    ):
        finish(torch_default, "kaiming")
