"""Choosing the modules a probe attaches to: by type, by name pattern, by predicate or by list."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from torch import nn

__all__ = [
    "ELEMENTWISE_ACTIVATIONS",
    "WEIGHT_LAYERS",
    "Where",
    "activation_modules",
    "is_activation",
    "select_modules",
    "weight_layers",
]

# torch's elementwise activations; each is deterministic and keeps no running state, so its derivative
# can be taken with autograd on a detached copy of its input. RReLU is left out: in training mode it
# draws random slopes, so a second evaluation would neither match the forward pass nor spare the RNG.
ELEMENTWISE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.CELU,
    nn.ELU,
    nn.GELU,
    nn.Hardshrink,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Hardtanh,  # ReLU6 subclasses it
    nn.LeakyReLU,
    nn.LogSigmoid,
    nn.Mish,
    nn.PReLU,
    nn.ReLU,
    nn.SELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Softplus,
    nn.Softshrink,
    nn.Softsign,
    nn.Tanh,
    nn.Tanhshrink,
    nn.Threshold,
)

WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)

Where = (
    type[nn.Module]
    | tuple[type[nn.Module], ...]
    | str
    | Callable[[str, nn.Module], bool]
    | Sequence[nn.Module | str]
)
"""A module selector: a class or tuple of classes (``isinstance``), a regular expression that must match
the whole qualified name (``re.fullmatch``), a predicate ``(name, module) -> bool``, or an explicit list
of modules or qualified names."""


def is_activation(module: nn.Module) -> bool:
    """True for torch's elementwise activations and any module exposing ``derivative(input)``."""
    return isinstance(module, ELEMENTWISE_ACTIVATIONS) or callable(getattr(module, "derivative", None))


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The elementwise activation modules of ``model`` as ``(qualified name, module)`` in definition order."""
    return [(name, m) for name, m in model.named_modules() if is_activation(m)]


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Linear and convolution modules of ``model`` as ``(qualified name, module)``."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]


def select_modules(model: nn.Module, where: Where, what: str = "probe") -> list[tuple[str, nn.Module]]:
    """The ``(qualified name, module)`` pairs of ``model`` chosen by ``where`` (see :data:`Where`).

    Raises ValueError when nothing is selected or a listed module is not part of ``model``; ``what``
    names the caller in the message.
    """
    named = list(model.named_modules())
    if isinstance(where, type) or (
        isinstance(where, tuple) and where and all(isinstance(w, type) for w in where)
    ):
        chosen = [(n, m) for n, m in named if isinstance(m, where)]
        how = f"type {where}"
    elif isinstance(where, str):
        pattern = re.compile(where)
        chosen = [(n, m) for n, m in named if pattern.fullmatch(n)]
        how = f"pattern {where!r}"
    elif callable(where) and not isinstance(where, nn.Module):
        chosen = [(n, m) for n, m in named if where(n, m)]
        how = "the predicate"
    elif isinstance(where, (list, tuple, nn.ModuleList)):
        by_name = dict(named)
        by_id = {id(m): n for n, m in named}
        chosen = []
        for item in where:
            if isinstance(item, str):
                if item not in by_name:
                    raise ValueError(f"{what}: no module named {item!r} in the model; {_some_names(named)}")
                chosen.append((item, by_name[item]))
            elif isinstance(item, nn.Module):
                if id(item) not in by_id:
                    raise ValueError(f"{what}: module {type(item).__name__} is not part of the model")
                chosen.append((by_id[id(item)], item))
            else:
                raise TypeError(f"{what}: list entries must be modules or names, got {type(item).__name__}")
        how = "the list"
    else:
        raise TypeError(
            f"{what}: where= must be a module class, a tuple of classes, a name pattern, a predicate "
            f"(name, module) -> bool or a list of modules/names; got {type(where).__name__}"
        )
    if not chosen:
        raise ValueError(f"{what}: {how} selects no module; {_some_names(named)}")
    return chosen


def _some_names(named: list[tuple[str, nn.Module]]) -> str:
    names = [f"{n or '<root>'} ({type(m).__name__})" for n, m in named[:12]]
    more = f", ... ({len(named) - 12} more)" if len(named) > 12 else ""
    return "modules are: " + ", ".join(names) + more
