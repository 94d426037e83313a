"""One registry of activation layers: ``get_act_layer`` and ``create_act`` (timm's ``act_layer=``).

Names follow ``normact.theory``: identity, relu, leaky_relu, elu, selu, dselu, sselu, lselu, tanh,
lecun_tanh, softsign, sigmoid, swish/silu, gelu, softplus, mish, plus nrelu, nswish, nlrelu,
normalized (any base), relu_gpn, lrelu_gpn, gpn (any base) and crelu.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from normact.nn.activations import (
    ELU,
    GELU,
    SELU,
    Identity,
    LeakyReLU,
    Mish,
    ReLU,
    Sigmoid,
    Softplus,
    Softsign,
    Swish,
    Tanh,
)
from normact.nn.bounded import LeCunTanh
from normact.nn.crelu import CReLU
from normact.nn.gpn import GPN, LReLUGPN, ReLUGPN
from normact.nn.normalized import NLReLU, NormalizedActivation, NReLU, NSwish
from normact.nn.selu import DSELU, LSELU, SSELU

__all__ = ["create_act", "get_act_layer", "list_acts", "register_act"]

ActLayer = type[nn.Module] | Callable[..., nn.Module]

_ACTS: dict[str, ActLayer] = {
    "identity": Identity,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "selu": SELU,
    "dselu": DSELU,
    "sselu": SSELU,
    "lselu": LSELU,
    "tanh": Tanh,
    "lecun_tanh": LeCunTanh,
    "softsign": Softsign,
    "sigmoid": Sigmoid,
    "swish": Swish,
    "silu": Swish,
    "gelu": GELU,
    "softplus": Softplus,
    "mish": Mish,
    "nrelu": NReLU,
    "nswish": NSwish,
    "nlrelu": NLReLU,
    "normalized": NormalizedActivation,
    "relu_gpn": ReLUGPN,
    "lrelu_gpn": LReLUGPN,
    "gpn": GPN,
    "crelu": CReLU,
}


def list_acts() -> list[str]:
    """The registered activation names."""
    return sorted(_ACTS)


def register_act(name: str, layer: ActLayer) -> None:
    """Register ``layer`` (a class or factory) under ``name``; an existing name is an error."""
    if name in _ACTS:
        raise ValueError(f"activation '{name}' is already registered as {_ACTS[name]!r}")
    if not callable(layer) or isinstance(layer, nn.Module):
        raise TypeError(f"register a module class or a factory, not {layer!r}")
    _ACTS[name] = layer


def get_act_layer(name: str | ActLayer | None) -> ActLayer | None:
    """The layer class (or factory) for ``name``; classes and callables pass through; None/'' give None."""
    if name is None or name == "":
        return None
    if isinstance(name, str):
        key = name.lower()
        if key not in _ACTS:
            raise ValueError(
                f"unknown activation '{name}'; choose from {list_acts()} or pass an nn.Module class"
            )
        return _ACTS[key]
    if isinstance(name, nn.Module):
        raise TypeError(
            f"act_layer must be a name, a module class or a factory, not the module instance {name!r} "
            "(an instance would be shared by every layer)"
        )
    if callable(name):
        return name
    raise TypeError(f"act_layer must be a name, a module class or a factory (got {type(name).__name__})")


def create_act(name: str | ActLayer | None, **kwargs: object) -> nn.Module | None:
    """A new activation module; ``eps=`` (and ``central=``, ``lam_min=``) on a SELU-family name calls
    ``from_epsilon``.

    Example: ``create_act("sselu", eps=0.06, central=True)``,
    ``create_act("lselu", eps=0.06, lam_min=0.5)``, ``create_act("nrelu", momentum=0.05)``.
    """
    layer = get_act_layer(name)
    if layer is None:
        return None
    if "eps" in kwargs and inspect.isclass(layer) and hasattr(layer, "from_epsilon"):
        return layer.from_epsilon(**kwargs)
    return layer(**kwargs)
