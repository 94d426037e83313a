import itertools

import numpy as np
import pytest
import torch
from torch import nn

from normact.probes.callbacks import WeightCoherence, build_probe_callbacks


def _coherence_by_pairs(weight: torch.Tensor) -> float:
    rows = weight.detach().reshape(weight.shape[0], -1).double().numpy()
    return max(
        abs(rows[i] @ rows[j]) / (np.linalg.norm(rows[i]) * np.linalg.norm(rows[j]))
        for i, j in itertools.permutations(range(len(rows)), 2)
    )


def test_coherence_of_every_filter_bank_against_a_pairwise_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1), nn.Linear(1, 3))
    out = WeightCoherence().on_epoch_end(model, 1, [])
    # the 1-filter Linear(4, 1) has no pair of filters, biases are vectors: both left out
    assert set(out) == {"coherence/0.weight", "coherence/4.weight"}
    assert out["coherence/0.weight"] == pytest.approx(_coherence_by_pairs(model[0].weight), rel=1e-12)
    with torch.no_grad():
        model[0].weight[3] = -2.5 * model[0].weight[1]  # two filters on one line: coherence 1
    assert WeightCoherence().on_epoch_end(model, 2, [])["coherence/0.weight"] == pytest.approx(1.0)


def test_coherence_where_and_errors():
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.Conv2d(5, 4, 1))
    (cb,) = build_probe_callbacks([{"name": "coherence", "where": r"^1\."}])
    assert set(cb.on_epoch_end(model, 1, [])) == {"coherence/1.weight"}
    with pytest.raises(ValueError, match=r"no weight .* where='nothing'"):
        WeightCoherence("nothing").on_epoch_end(model, 1, [])
