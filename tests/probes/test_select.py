import pytest
import torch
from torch import nn

from normact.probes.select import activation_modules, is_activation, select_modules, weight_layers


class Custom(nn.Module):
    """An activation known only by its derivative method."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 2.0)


def model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(4, 4),
        nn.ReLU(),
        nn.Sequential(nn.Linear(4, 4), nn.Tanh(), Custom()),
        nn.RReLU(),
        nn.Linear(4, 3),
        nn.Softmax(dim=1),
    )


def names(selected: list[tuple[str, nn.Module]]) -> list[str]:
    return [n for n, _ in selected]


def test_activation_modules_are_elementwise_ones_and_derivative_owners() -> None:
    m = model()
    assert names(activation_modules(m)) == ["1", "2.1", "2.2"]
    assert not is_activation(nn.Softmax(dim=1)) and not is_activation(nn.RReLU())
    assert names(weight_layers(m)) == ["0", "2.0", "4"]


def test_selectors() -> None:
    m = model()
    assert names(select_modules(m, nn.Linear)) == ["0", "2.0", "4"]
    assert names(select_modules(m, (nn.ReLU, nn.Tanh))) == ["1", "2.1"]
    assert names(select_modules(m, r"2\.\d")) == ["2.0", "2.1", "2.2"]
    assert names(select_modules(m, "2")) == ["2"]  # the whole name must match
    assert names(select_modules(m, lambda n, mod: n.endswith("1"))) == ["1", "2.1"]
    assert names(select_modules(m, [m[4], "2.1"])) == ["4", "2.1"]


def test_selection_errors_are_explicit() -> None:
    m = model()
    with pytest.raises(ValueError, match=r"pattern 'conv\.\*' selects no module; modules are: <root>"):
        select_modules(m, "conv.*")
    with pytest.raises(ValueError, match="no module named 'fc'"):
        select_modules(m, ["fc"])
    with pytest.raises(ValueError, match="Linear is not part of the model"):
        select_modules(m, [nn.Linear(1, 1)])
    with pytest.raises(TypeError, match="where= must be"):
        select_modules(m, 3)
