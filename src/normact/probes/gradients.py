"""Frobenius norms of weight gradients, recorded at every backward pass without a host sync."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from normact.probes.base import Probe, Result
from normact.probes.select import Where, weight_layers
from normact.probes.stats import Series

__all__ = ["GradNorm"]


class GradNorm(Probe):
    """``||dL/dW||_F`` of each selected layer's ``weight``, once per backward pass.

    Read from ``weight.grad`` in a post-accumulate-grad hook, so with gradient accumulation each entry
    is the norm of the gradient accumulated so far. Default: every Linear and convolution layer.

    Result per layer: ``value`` (mean over steps), ``last``, ``series`` (one entry per backward),
    ``calls``.
    """

    metric = "grad_norm"

    def __init__(self, where: Where | None = None, name: str | None = None) -> None:
        super().__init__(where, name)

    def _default_where(self, model: nn.Module) -> Where:
        return [m for _, m in weight_layers(model)]

    def _setup(self) -> None:
        for name, module in self.layers:
            weight = getattr(module, "weight", None)
            if not isinstance(weight, nn.Parameter) or not weight.requires_grad:
                raise ValueError(f"{self.name}: layer {name!r} has no weight parameter that requires grad")

    def _hook(self, name: str, module: nn.Module) -> list[RemovableHandle]:
        def record(weight: nn.Parameter) -> None:
            state = self._state[name]
            state["calls"] = state.get("calls", 0) + 1
            state.setdefault("norms", Series()).append(torch.linalg.vector_norm(weight.grad))

        return [module.weight.register_post_accumulate_grad_hook(record)]

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        norms = np.asarray(host["norms"])
        return {
            "value": float(norms.mean()),
            "last": float(norms[-1]),
            "calls": host["calls"],
            "series": norms,
        }
