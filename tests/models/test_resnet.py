import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from normact import probes
from normact.models import BasicBlock, Bottleneck, ResNet, create_model
from normact.nn import CReLU, NormalizedActivation, NormPropConv2d, NReLU, ReLU

from .helpers import forward_backward, num_params, resnet_count

WIDTHS = (64, 128, 256, 512)


@pytest.mark.parametrize(
    ("name", "bottleneck", "layers", "known"),
    [
        ("resnet34", False, (3, 4, 6, 3), 21_797_672),
        ("resnet50", True, (3, 4, 6, 3), 25_557_032),
        ("resnet101", True, (3, 4, 23, 3), 44_549_160),
    ],
)
def test_imagenet_counts(name, bottleneck, layers, known):
    with torch.device("meta"):
        model = create_model(name, num_classes=1000, input_shape=(3, 224, 224), init="torch")
        crelu = create_model(name, num_classes=1000, input_shape=(3, 224, 224), init="torch", act="crelu")
    assert model.stem_type == "imagenet"
    assert num_params(model) == resnet_count(bottleneck, layers, WIDTHS, 1000) == known  # torchvision's
    assert num_params(crelu) == resnet_count(bottleneck, layers, WIDTHS, 1000, multiplier=2)
    blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert len(blocks) == sum(layers)


def test_anact_resnet50():
    """ANAct 3.3: every activation normalized but those after the additions; no BN affine before them."""
    with torch.device("meta"):
        model = create_model("resnet50", num_classes=100, input_shape=(3, 64, 64), act="nrelu", init="torch")
        relu = create_model("resnet50", num_classes=100, input_shape=(3, 64, 64), init="torch")
    normalized = [n for n, m in model.named_modules() if isinstance(m, NReLU)]
    plain = [n for n, m in model.named_modules() if type(m) is ReLU]
    assert len(normalized) == 1 + 2 * 16 and len(plain) == 16
    assert all(n.endswith(".act") and n.count(".") == 2 for n in plain)  # layerS.I.act: after the addition
    for m in model.modules():
        if isinstance(m, nn.Sequential) and isinstance(getattr(m, "norm", None), _BatchNorm):
            assert m.norm.affine == (not isinstance(getattr(m, "act", None), NormalizedActivation))
    counted = resnet_count(True, (3, 4, 6, 3), WIDTHS, 100, stem_kernel=3, normalized=True)
    assert num_params(model) == counted
    # "the total number of trainable parameters of the normalized model is 15K fewer" (section 3.3)
    removed = 2 * 64 + sum(n * 2 * 2 * w for n, w in zip((3, 4, 6, 3), WIDTHS))
    assert num_params(relu) - num_params(model) == removed - 33
    assert 15_000 <= removed - 33 < 16_000


@pytest.mark.parametrize("name", ["resnet34", "resnet50", "resnet101"])
def test_forward_backward_tiny(name):
    model = create_model(name, num_classes=10, input_shape=(3, 32, 32), width=0.0625, act="crelu")
    assert model.stem_type == "cifar"
    assert sum(isinstance(m, CReLU) for m in model.modules()) == sum(
        (1 if isinstance(b, BasicBlock) else 2)
        for b in model.modules()
        if isinstance(b, (BasicBlock, Bottleneck))
    )
    forward_backward(model, torch.randn(2, 3, 32, 32), 10)


@pytest.mark.parametrize("norm", ["normprop2", "normprop3"])
def test_normprop_imagenet_resnets(norm):
    """The CReLU paper's Table 4: NormProp2/3 ResNet-34 and -50 with ReLU or CReLU, ImageNet stem."""
    model = create_model(
        "resnet50",
        num_classes=10,
        input_shape=(3, 128, 128),
        width=0.0625,
        norm=norm,
        act="crelu",
        init="xavier",
    )
    assert model.stem_type == "imagenet" and isinstance(model.stem.conv, NormPropConv2d)
    assert model.stem.conv.act == "relu"  # the stem feeds the identity path
    assert num_params(model) == resnet_count(True, (3, 4, 6, 3), (4, 8, 16, 32), 10, norm=norm, multiplier=2)
    forward_backward(model, torch.randn(2, 3, 128, 128), 10)


def test_residual_delta_probe_sees_every_block():
    model = create_model("resnet50", num_classes=10, input_shape=(3, 32, 32), width=0.0625).eval()
    delta = probes.ResidualDelta(where=(BasicBlock, Bottleneck), shortcut="shortcut")
    with probes.attach(model, delta) as p, torch.no_grad():
        model(torch.randn(4, 3, 32, 32))
    values = p.results()["residual_delta"]
    assert sorted(values) == sorted(n for n, m in model.named_modules() if isinstance(m, Bottleneck))
    assert all(v["value"] > 0 for v in values.values())


def test_errors():
    with pytest.raises(ValueError, match=r"unknown ResNet depth 42; choose from \[18, 34, 50, 101, 152\]"):
        create_model("resnet", depth=42)
    with pytest.raises(ValueError, match=r"unknown stem 'tiny'; choose from \['imagenet', 'cifar'\]"):
        ResNet(BasicBlock, (1, 1), widths=(8, 16), stem="tiny")
    with pytest.raises(ValueError, match="must give a positive block count"):
        ResNet(BasicBlock, (1, 0), widths=(8, 16))
    with pytest.raises(ValueError, match="NormProp networks take act 'relu' or 'crelu'"):
        create_model("resnet34", norm="normprop", act="nrelu")
