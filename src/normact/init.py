"""Weight initialisation of a whole model by scheme name: xavier, he, lecun or orthogonal.

The papers initialise with Xavier (Glorot & Bengio 2010; ANAct's normalized activations), He (He et
al. 2015; ReLU-likes), LeCun ``N(0, 1/fan_in)`` (the SELU family, Klambauer et al. 2017) or
orthogonal matrices (Saxe et al. 2014; ANAct's GPN baselines).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["SCHEMES", "init_weights"]


def _xavier(w: Tensor) -> None:
    nn.init.xavier_normal_(w)


def _he(w: Tensor) -> None:
    nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")


def _lecun(w: Tensor) -> None:
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(w)
    nn.init.normal_(w, 0.0, 1.0 / math.sqrt(fan_in))


def _orthogonal(w: Tensor) -> None:
    nn.init.orthogonal_(w)


# scheme -> initialiser of one weight tensor (all normal except orthogonal)
SCHEMES: dict[str, Callable[[Tensor], None]] = {
    "xavier": _xavier,
    "he": _he,
    "lecun": _lecun,
    "orthogonal": _orthogonal,
}

_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


def init_weights(model: nn.Module, scheme: str, *, bias: float = 0.0) -> nn.Module:
    """Initialise the weight of every Linear and Conv layer of ``model`` by ``scheme``; biases to ``bias``.

    ``xavier``: ``N(0, 2 / (fan_in + fan_out))``; ``he``: ``N(0, 2 / fan_in)``; ``lecun``:
    ``N(0, 1 / fan_in)``; ``orthogonal``: a (semi-)orthogonal matrix over the flattened filters.
    A parametrized weight (e.g. weight centralization) has its original tensor initialised.
    Normalization layers keep their own initialisation. Returns ``model``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme '{scheme}'; choose from {sorted(SCHEMES)}")
    fill = SCHEMES[scheme]
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _LAYERS):
                continue
            if parametrize.is_parametrized(module, "weight"):
                fill(module.parametrizations.weight.original)
            else:
                fill(module.weight)
            if module.bias is not None:
                module.bias.fill_(bias)
    return model
