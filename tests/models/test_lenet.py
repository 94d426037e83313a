import pytest
import torch
from torch import nn

from normact.models import PAPER_INIT, LeNet5, create_model, paper_init
from normact.nn import NReLU

TABLE1 = ("tanh", "leaky_relu", "elu", "selu", "relu", "relu_gpn", "nrelu", "swish", "nswish")


def _layers(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


@pytest.mark.parametrize("act", TABLE1)
def test_forward_backward_every_table1_activation(act):
    torch.manual_seed(0)
    model = create_model("lenet5", num_classes=10, input_shape=(1, 28, 28), act=act)
    x = torch.randn(8, 1, 28, 28)
    out = model(x)
    assert out.shape == (8, 10) and torch.isfinite(out).all()
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(isinstance(m, type(model.features[1])) for m in model.modules()) == 4  # four activations


def test_parameter_count_from_the_layer_shapes():
    # (inputs per unit + bias) * units, layer by layer: conv 1->6 5x5, conv 6->16 5x5, fc 16*5*5->120->84->10
    expected = (
        (1 * 5 * 5 + 1) * 6 + (6 * 5 * 5 + 1) * 16 + (16 * 5 * 5 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    )
    assert expected == 61_706
    model = LeNet5(10, (1, 28, 28), act="relu")
    assert sum(p.numel() for p in model.parameters()) == expected
    shapes = [tuple(m.weight.shape) for m in _layers(model)]
    assert shapes == [(6, 1, 5, 5), (16, 6, 5, 5), (120, 400), (84, 120), (10, 84)]
    # a normalized activation adds its learnable alpha: one scalar per activation layer
    assert sum(p.numel() for p in LeNet5(10, (1, 28, 28), act="nrelu").parameters()) == expected + 4


def test_other_input_shapes_and_pooling():
    model = LeNet5(100, (3, 32, 32), act="tanh", pool="avg")
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert isinstance(model.features[2], nn.AvgPool2d)
    assert model.classifier[1].in_features == 16 * 6 * 6
    assert isinstance(LeNet5().features[2], nn.MaxPool2d)  # the default
    with pytest.raises(ValueError, match="too small"):
        LeNet5(10, (1, 10, 10))
    with pytest.raises(ValueError, match=r"must be \(C, H, W\)"):
        LeNet5(10, (784,))
    with pytest.raises(ValueError, match="unknown pool 'sum'"):
        LeNet5(pool="sum")


def test_each_activation_layer_is_its_own_instance():
    model = LeNet5(act="nrelu")
    acts = [m for m in model.modules() if isinstance(m, NReLU)]
    assert len(acts) == 4 and len({id(a) for a in acts}) == 4
    assert LeNet5(act="nrelu", act_kwargs={"momentum": 0.05}).features[1].momentum == 0.05


def test_paper_init_mapping():
    assert {a: paper_init(a) for a in TABLE1} == {
        "tanh": "xavier", "nrelu": "xavier", "nswish": "xavier",
        "relu": "he", "leaky_relu": "he", "elu": "he", "selu": "he", "swish": "he",
        "relu_gpn": "orthogonal",
    }  # fmt: skip
    assert set(TABLE1) <= set(PAPER_INIT)
    with pytest.raises(ValueError, match=r"ANAct names no initialisation for activation 'gelu'.*'torch'"):
        LeNet5(act="gelu")
    assert LeNet5(act="gelu", init="he").init == "he"
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        LeNet5(init="glorot")


@pytest.mark.parametrize(
    ("act", "variance"), [("relu", lambda i, o: 2 / i), ("nrelu", lambda i, o: 2 / (i + o))]
)
def test_default_init_follows_the_paper(act, variance):
    torch.manual_seed(0)
    fc1 = LeNet5(act=act).classifier[1]  # 120 x 400: 48000 draws, so the sample variance is within ~1 %
    expected = variance(fc1.in_features, fc1.out_features)
    assert fc1.weight.var().item() == pytest.approx(expected, rel=0.03)
    assert fc1.weight.mean().item() == pytest.approx(0.0, abs=4 * (expected / fc1.weight.numel()) ** 0.5)
    assert torch.all(fc1.bias == 0)


def test_orthogonal_init_for_relu_gpn():
    torch.manual_seed(0)
    model = LeNet5(act="relu_gpn")
    for layer in _layers(model):
        w = layer.weight.flatten(1).double()
        rows, cols = w.shape
        gram = w @ w.T if rows <= cols else w.T @ w
        assert torch.allclose(gram, torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-5)


def test_torch_init_keeps_pytorch_defaults():
    torch.manual_seed(0)
    ours = LeNet5(act="relu", init="torch").classifier[1].weight
    torch.manual_seed(0)  # the same layers built in the same order draw the same numbers
    nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
    assert torch.equal(ours, nn.Linear(400, 120).weight)
