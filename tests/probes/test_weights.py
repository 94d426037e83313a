import itertools

import numpy as np
import pytest
import torch
from torch import nn

from normact import probes


def pairwise_coherence(w: torch.Tensor) -> float:
    """Max |cosine| over every pair of distinct non-zero filters, by a plain loop."""
    rows = [r for r in w.detach().reshape(w.shape[0], -1).double().numpy() if np.any(r)]
    pairs = itertools.combinations(rows, 2)
    return max(abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in pairs)


def test_coherence_matches_the_pairwise_definition() -> None:
    w = torch.randn(7, 3, 3, 3)
    w[4] = 0.0
    assert probes.coherence(w) == pytest.approx(pairwise_coherence(w), rel=1e-12)
    assert probes.coherence(torch.eye(5)) == 0.0
    assert probes.coherence(torch.tensor([[1.0, 2.0], [-2.0, -4.0], [2.0, -1.0]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two or more non-zero filters"):
        probes.coherence(torch.tensor([[1.0, 2.0], [0.0, 0.0]]))


def test_fan_in() -> None:
    assert probes.fan_in(nn.Linear(5, 3).weight) == 5
    assert probes.fan_in(nn.Conv2d(8, 4, 3, groups=2).weight) == 4 * 9
    with pytest.raises(ValueError, match="2 or more dimensions"):
        probes.fan_in(torch.ones(3))


def test_weight_means_and_records() -> None:
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        model[3].weight.add_(0.5)
    means = probes.weight_means(model)
    assert list(means) == ["0.weight", "3.weight"]  # BatchNorm's 1-d weight is not a matrix
    for name, value in means.items():
        assert value == pytest.approx(model.get_parameter(name).double().mean().item(), rel=1e-12)
    assert probes.sum_abs_weight_means(model) == pytest.approx(sum(abs(v) for v in means.values()))
    rows = probes.weight_records(model)
    linear = rows[1]
    assert linear["shape"] == "3x4" and linear["fan_in"] == 4
    assert linear["mu_fan_in"] == pytest.approx(abs(means["3.weight"]) * 4)
    assert linear["frobenius"] == pytest.approx(torch.linalg.vector_norm(model[3].weight).item(), rel=1e-6)
    assert linear["coherence"] == pytest.approx(pairwise_coherence(model[3].weight), rel=1e-12)
    assert "coherence" not in probes.weight_records(model, with_coherence=False)[0]
    with pytest.raises(ValueError, match="no weight matrix"):
        probes.weight_means(nn.BatchNorm1d(3))
