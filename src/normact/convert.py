"""Replace activation modules in any model: ``convert_activations(model, source, target)``."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import torch
from torch import nn

from normact.registry import ActLayer, create_act, get_act_layer

__all__ = ["convert_activations"]

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
    Returns the converted model (the replacement itself when ``model`` matches).
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
        return replace(model)
    for path, child in list(model.named_modules(remove_duplicate=False)):
        if path and (id(child) in done or match(child)):
            parent, _, name = path.rpartition(".")
            setattr(model.get_submodule(parent), name, replace(child))
    return model
