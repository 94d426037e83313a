"""Replace activation modules in any model: ``convert_activations(model, source, target)``."""

from __future__ import annotations

import copy
import inspect
import logging
import re
import warnings
from collections.abc import Callable

import torch
from torch import nn

from normact.registry import ActLayer, create_act, get_act_layer

__all__ = ["convert_activations"]

log = logging.getLogger("normact")

# activation calls in a forward's source that no module conversion can reach: F.relu(...), torch.tanh(...)
_FUNCTIONAL_CALL = re.compile(
    r"\b(?:F|functional|torch|nn\.functional)\.(relu6?|leaky_relu|elu|selu|celu|gelu|silu|mish|tanh|sigmoid"
    r"|softplus|softsign|hardswish|hardtanh|hardsigmoid|prelu|rrelu)_?\(|\.(relu|tanh|sigmoid)_?\(\)"
)

Source = str | type[nn.Module] | tuple[type[nn.Module], ...] | Callable[[nn.Module], bool]


def _matcher(source: Source) -> Callable[[nn.Module], bool]:
    if isinstance(source, str):
        layer = get_act_layer(source)
        if not inspect.isclass(layer):
            raise TypeError(f"source '{source}' names a factory, not a class; pass the class or a predicate")
        # "relu" matches torch's nn.ReLU too, not only normact's subclass of it
        torch_classes = (
            c for c in layer.__mro__ if c.__module__.startswith("torch.nn") and c is not nn.Module
        )
        source = next(torch_classes, layer)
    if inspect.isclass(source) or (isinstance(source, tuple) and all(inspect.isclass(s) for s in source)):
        types = source
        return lambda m: isinstance(m, types)
    if callable(source) and not isinstance(source, nn.Module):
        return source
    raise TypeError(
        f"source must be a name, a module class, a tuple of classes or a predicate (got {source!r})"
    )


def _placement(old: nn.Module, model: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    """Device and floating dtype of ``old``'s tensors, else of the model's."""
    for scope in (old, model):
        for t in (*scope.parameters(), *scope.buffers()):
            if t.is_floating_point():
                return t.device, t.dtype
    return None, None


def convert_activations(
    model: nn.Module,
    source: Source,
    target: str | ActLayer,
    *,
    inplace: bool = True,
    **kwargs: object,
) -> nn.Module:
    """Replace every module that matches ``source`` with ``create_act(target, **kwargs)``.

    ``source`` is a registry name, a module class or tuple of classes (matched with ``isinstance``,
    so subclasses count), or a predicate ``module -> bool``. Each replacement takes the device and
    floating dtype of the module it replaces (or of the model when that module holds no tensors)
    and its training mode. Replacements are set on the existing parent modules, so every other
    module keeps its class, parameters and buffers; a module shared under several names gets one
    shared replacement. With ``inplace=False`` a deep copy is converted and ``model`` is untouched.
    Returns the converted model (the replacement itself when ``model`` matches). The number of
    modules replaced is logged (logger ``normact``, INFO); when it is zero a ``UserWarning`` says so
    and names the activation functions the model's ``forward`` methods call (``F.relu(x)``), the
    usual cause, since a function call is not a module that can be replaced.
    """
    match = _matcher(source)
    if not inplace:
        model = copy.deepcopy(model)
    done: dict[int, nn.Module] = {}

    def replace(old: nn.Module) -> nn.Module:
        if id(old) not in done:
            new = create_act(target, **kwargs)
            device, dtype = _placement(old, model)
            if device is not None:
                new = new.to(device=device, dtype=dtype)
            done[id(old)] = new.train(old.training)
        return done[id(old)]

    if match(model):
        new = replace(model)
    else:
        for path, child in list(model.named_modules(remove_duplicate=False)):
            if path and (id(child) in done or match(child)):
                parent, _, name = path.rpartition(".")
                setattr(model.get_submodule(parent), name, replace(child))
        new = model
    if done:
        log.info("convert_activations: replaced %d module(s) by %s", len(done), target)
    else:
        warnings.warn(_nothing_replaced(model, source), stacklevel=2)
    return new


def _nothing_replaced(model: nn.Module, source: Source) -> str:
    """The warning for a conversion that matched nothing, naming functional calls found in forwards."""
    calls: dict[str, set[str]] = {}
    for module in model.modules():
        kind = type(module)
        if kind.__module__.startswith("torch.") or kind.__name__ in calls:
            continue
        try:
            code = inspect.getsource(kind.forward)
        except (OSError, TypeError):
            continue
        found = {m.group(0).rstrip("(") for m in _FUNCTIONAL_CALL.finditer(code)}
        if found:
            calls[kind.__name__] = found
    text = f"convert_activations replaced nothing: no module of the model matches {source!r}"
    if calls:
        where = "; ".join(f"{name}.forward calls {', '.join(sorted(c))}" for name, c in calls.items())
        return (
            f"{text}. {where}: functional calls are not modules and cannot be replaced; create the "
            "activation as a module in __init__ (e.g. self.act = nn.ReLU()) and call it in forward"
        )
    return text
