import pytest
import torch
from torch import nn

from normact.convert import convert_activations
from normact.nn import NReLU, NSwish, ReLU


class Gate(nn.Module):
    """A parent with its own behaviour and buffer, which conversion must keep."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.tensor(2.0))
        self.act = nn.ReLU()
        self.inner = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.ModuleList([nn.GELU(), nn.ReLU()]))
        self.heads = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()})

    def forward(self, x):
        x = self.inner[2][1](self.inner[1](self.inner[0](x)))
        return self.scale * self.act(x) + self.inner[2][0](x) + self.heads["a"](x) * self.heads["b"](x)


def nested():
    return nn.Sequential(nn.Linear(3, 4), ReLU(), Gate())


def count(model, cls):
    return sum(isinstance(m, cls) for m in model.modules())


def test_nested_conversion_in_place():
    model = nested().double().eval()
    out = convert_activations(model, nn.ReLU, "nrelu", momentum=0.2)
    assert out is model
    assert count(model, nn.ReLU) == 0 and count(model, NReLU) == 5
    assert isinstance(model[2], Gate) and model[2].scale.item() == 2.0  # parent kept, buffer kept
    assert isinstance(model[2].heads["b"], nn.Tanh) and isinstance(model[2].inner[2][0], nn.GELU)
    for m in model.modules():
        if isinstance(m, NReLU):
            assert m.momentum == 0.2 and not m.training and m.running_rho.dtype == torch.float64
    assert model(torch.randn(5, 3, dtype=torch.float64)).shape == (5, 4)


def test_copy_leaves_the_original():
    model = nested()
    converted = convert_activations(model, "relu", NSwish, inplace=False)
    assert count(model, nn.ReLU) == 5 and count(model, NSwish) == 0
    assert count(converted, NSwish) == 5 and converted is not model
    assert converted[0].weight is not model[0].weight and torch.equal(converted[0].weight, model[0].weight)


def test_predicate_shared_modules_and_root():
    shared = nn.ReLU()
    model = nn.Sequential(shared, nn.Linear(2, 2), shared, nn.ReLU())
    convert_activations(model, lambda m: m is shared, nn.ELU)
    assert isinstance(model[0], nn.ELU) and model[0] is model[2] and isinstance(model[3], nn.ReLU)
    assert isinstance(convert_activations(nn.ReLU(), nn.ReLU, "tanh"), nn.Tanh)


def test_stateful_source_gives_its_dtype_and_mode():
    model = nn.Sequential(nn.Linear(2, 2), NReLU()).train()
    model[1].double()
    convert_activations(model, NReLU, NSwish)
    assert model[1].running_rho.dtype == torch.float64 and model[1].training


def test_bad_source():
    with pytest.raises(TypeError, match="source must be"):
        convert_activations(nn.Sequential(), nn.ReLU(), "relu")


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.nn.functional.relu(self.fc(x)) + torch.tanh(x)


def test_count_is_logged_and_nothing_replaced_warns_with_the_functional_calls(caplog):
    with caplog.at_level("INFO", logger="normact"):
        convert_activations(nested(), "relu", "nrelu")
    assert "replaced 5 module(s) by nrelu" in caplog.text  # the five ReLU modules of nested()
    calls = r"Functional\.forward calls nn\.functional\.relu, torch\.tanh: functional calls"
    with pytest.warns(UserWarning, match=calls):
        model = convert_activations(Functional(), "relu", "nrelu")
    assert isinstance(model, Functional) and count(model, NReLU) == 0
    with pytest.warns(UserWarning, match="replaced nothing: no module of the model matches 'relu'$"):
        convert_activations(nn.Sequential(nn.Linear(2, 2)), "relu", "nrelu")
