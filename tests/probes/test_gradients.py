import numpy as np
import pytest
import torch
from torch import nn

from normact import probes


def test_grad_norm_series_matches_each_backward() -> None:
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    expected = {"0": [], "3": []}
    with probes.attach(model, probes.GradNorm()) as p:
        for _ in range(4):
            optimizer.zero_grad()
            model(torch.randn(8, 2, 4, 4)).square().mean().backward()
            for name in expected:
                expected[name].append(torch.linalg.vector_norm(model[int(name)].weight.grad.double()).item())
            optimizer.step()
    result = p.results()["grad_norm"]
    for name, norms in expected.items():
        np.testing.assert_allclose(result[name]["series"], norms, rtol=1e-6)
        np.testing.assert_allclose(result[name]["value"], np.mean(norms), rtol=1e-6)
        assert result[name]["last"] == pytest.approx(norms[-1], rel=1e-6)


def test_grad_norm_follows_accumulation() -> None:
    model = nn.Linear(3, 1)
    with probes.attach(model, probes.GradNorm()) as p:
        model(torch.ones(1, 3)).sum().backward()
        model(torch.ones(1, 3)).sum().backward()  # accumulates: grad = 2 * ones
    series = p.results()["grad_norm"][""]["series"]
    np.testing.assert_allclose(series, [np.sqrt(3), 2 * np.sqrt(3)], rtol=1e-6)


def test_grad_norm_needs_a_trainable_weight() -> None:
    model = nn.Linear(3, 1)
    model.weight.requires_grad_(False)
    with pytest.raises(ValueError, match="no weight parameter that requires grad"):
        probes.attach(model, probes.GradNorm())
