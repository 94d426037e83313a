"""Weight initialisation of a whole model by scheme name (xavier, he, lecun, orthogonal) and exact gains.

The papers initialise with Xavier (Glorot & Bengio 2010; ANAct's normalized activations), He (He et
al. 2015; ReLU-likes), LeCun ``N(0, 1/fan_in)`` (the SELU family, Klambauer et al. 2017) or
orthogonal matrices (Saxe et al. 2014; ANAct's GPN baselines).

``gain(act)`` is the exact counterpart of ``torch.nn.init.calculate_gain``: ``1 / sqrt(E[f(z)^2])``,
z ~ N(0, 1), computed by the theory engine (the GPN gain at unit input), so that a layer initialised
with ``std = gain / sqrt(fan_in)`` after ``f`` keeps a unit second moment of its pre-activations (see
docs/layers.md for how it differs from torch's table).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["SCHEMES", "gain", "init_weights"]


def _fan_in_normal(w: Tensor, gain: float) -> None:
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(w)
    nn.init.normal_(w, 0.0, gain / math.sqrt(fan_in))


def _xavier(w: Tensor, gain: float) -> None:
    nn.init.xavier_normal_(w, gain=gain)


def _orthogonal(w: Tensor, gain: float) -> None:
    nn.init.orthogonal_(w, gain=gain)


# scheme -> (initialiser of one weight tensor with a gain, the scheme's own gain); all normal except
# orthogonal
SCHEMES: dict[str, tuple[Callable[[Tensor, float], None], float]] = {
    "xavier": (_xavier, 1.0),
    "he": (_fan_in_normal, math.sqrt(2.0)),
    "lecun": (_fan_in_normal, 1.0),
    "orthogonal": (_orthogonal, 1.0),
}

_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


def gain(act: object, **params: float) -> float:
    """The exact gain ``1 / sqrt(E[f(z)^2])``, z ~ N(0, 1), of the activation ``act``.

    ``act`` is anything the theory engine takes (``normact.theory.get_activation``): a name with its
    parameters (``gain("leaky_relu", slope=0.2)``, ``gain("sselu", eps=0.06)``), a theory
    ``Activation``, a torch activation module (``nn.GELU()``) or a torch function (``torch.tanh``).
    Weights ``N(0, gain^2 / fan_in)`` after ``f`` map unit-second-moment pre-activations to
    unit-second-moment pre-activations. ReLU gives sqrt(2) like torch's table; tanh gives 1.5925
    (torch: 5/3) and SELU 1.0 (torch: 3/4, chosen for another purpose).
    """
    from normact import theory

    return theory.gpn_gain(theory.get_activation(act, **params))  # sqrt(E[z^2] / E[f(z)^2]), E[z^2] = 1


def init_weights(model: nn.Module, scheme: str, *, act: object = None, bias: float = 0.0) -> nn.Module:
    """Initialise the weight of every Linear and Conv layer of ``model`` by ``scheme``; biases to ``bias``.

    ``xavier``: ``N(0, 2 / (fan_in + fan_out))``; ``he``: ``N(0, 2 / fan_in)``; ``lecun``:
    ``N(0, 1 / fan_in)``; ``orthogonal``: a (semi-)orthogonal matrix over the flattened filters.
    With ``act`` (anything ``gain`` takes) the scheme's gain (``sqrt 2`` for he, 1 for the others) is
    replaced by ``gain(act)``: he and lecun then both give ``N(0, gain^2 / fan_in)``, xavier
    ``N(0, gain^2 2 / (fan_in + fan_out))`` and orthogonal ``gain`` times an orthogonal matrix.
    A parametrized weight (e.g. weight centralization) has its original tensor initialised.
    Normalization layers keep their own initialisation. Returns ``model``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme '{scheme}'; choose from {sorted(SCHEMES)}")
    fill, scheme_gain = SCHEMES[scheme]
    g = scheme_gain if act is None else gain(act)
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _LAYERS):
                continue
            if parametrize.is_parametrized(module, "weight"):
                fill(module.parametrizations.weight.original, g)
            else:
                fill(module.weight, g)
            if module.bias is not None:
                module.bias.fill_(bias)
    return model
