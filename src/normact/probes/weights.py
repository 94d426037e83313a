"""Statistics of weight tensors: mean shift, mean-normalization ratio, filter coherence.

Weights are the parameters with two or more dimensions (Linear, convolution, embedding matrices);
each row of ``weight.flatten(1)`` is one filter, and its length is the layer's fan-in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from normact.probes.stats import to_host

__all__ = ["coherence", "fan_in", "sum_abs_weight_means", "weight_means", "weight_records"]


def _weights(model: nn.Module) -> list[tuple[str, Tensor]]:
    found = [(name, p.detach()) for name, p in model.named_parameters() if p.dim() >= 2]
    if not found:
        raise ValueError(f"{type(model).__name__} has no weight matrix (no parameter with 2 or more dims)")
    return found


def fan_in(weight: Tensor) -> int:
    """Inputs feeding one output unit: ``in_features`` of a Linear, ``in_channels / groups * prod(kernel)``
    of a convolution (the length of one flattened filter)."""
    if weight.dim() < 2:
        raise ValueError(f"fan_in needs a weight with 2 or more dimensions, got shape {tuple(weight.shape)}")
    return weight[0].numel()


def weight_means(model: nn.Module) -> dict[str, float]:
    """Mean of every weight matrix of ``model`` by parameter name (ANAct, Fig. 4: ``sum_i |E W_i|``)."""
    means = to_host({name: w.to(torch.float64).mean() for name, w in _weights(model)})
    return {name: float(m) for name, m in means.items()}


def sum_abs_weight_means(model: nn.Module) -> float:
    """``sum_i |E W_i|`` over the weight matrices of ``model`` (ANAct, Fig. 4)."""
    return float(sum(abs(m) for m in weight_means(model).values()))


def coherence(weight: Tensor) -> float:
    """Largest |cosine| between two distinct filters: ``max_{i != j} |W_i . W_j| / (||W_i|| ||W_j||)``.

    CReLU/NormProp paper, Definition 2 (coherence of the rows of W; filters flattened). Computed from
    the float64 Gram matrix of the normalized rows. All-zero filters have no direction and are left
    out; fewer than two non-zero filters raise ValueError.
    """
    rows = weight.detach().reshape(weight.shape[0], -1).to(torch.float64)
    norms = torch.linalg.vector_norm(rows, dim=1)
    rows = rows[norms > 0] / norms[norms > 0, None]
    if rows.shape[0] < 2:
        raise ValueError(f"coherence needs two or more non-zero filters; weight shape {tuple(weight.shape)}")
    gram = (rows @ rows.T).abs()
    gram.fill_diagonal_(0.0)
    return float(gram.max())


def weight_records(model: nn.Module, with_coherence: bool = True) -> list[dict[str, Any]]:
    """One flat row per weight matrix: name, shape, fan-in, mean, |mean| * fan-in, Frobenius norm, coherence.

    ``mu_fan_in = |E W| * N_{l-1}`` is the self-normalization paper's ``mu N_{l-1}`` (Prop. 3.2 and
    appendix A.5): the factor by which multiplying with W scales the mean of its input. The bound mu of
    the entries' expectations is estimated by the mean of the entries, the only estimate one draw of W
    gives. ``coherence`` (a Gram matrix per weight) is skipped when ``with_coherence`` is False or the
    weight has a single filter.
    """
    rows = []
    for name, w in _weights(model):
        n = fan_in(w)
        mean = float(w.to(torch.float64).mean())
        row: dict[str, Any] = {
            "name": name,
            "shape": "x".join(map(str, w.shape)),
            "fan_in": n,
            "mean": mean,
            "mu_fan_in": abs(mean) * n,
            "frobenius": float(torch.linalg.vector_norm(w.to(torch.float64))),
        }
        if with_coherence and w.shape[0] > 1:
            row["coherence"] = coherence(w)
        rows.append(row)
    return rows
