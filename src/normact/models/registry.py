"""Model registry: builders register under a name and are created by name.

A builder is any callable returning an ``nn.Module``. The runner calls it with the model keyword
arguments of the run config plus ``num_classes`` and ``input_shape`` taken from the dataset, so every
registered builder accepts those two keywords (``input_shape`` excludes the batch dimension, e.g.
``(1, 28, 28)``). Activation (``act``) and initialisation (``init``) names are passed through unchanged;
the builder resolves them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[F], F]:
    """Register a model builder under ``name``; used as ``@register_model("mlp")``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")

    def decorator(builder: F) -> F:
        if name in _MODELS and _MODELS[name] is not builder:
            raise ValueError(f"model {name!r} is already registered by {_MODELS[name]!r}")
        _MODELS[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Sorted names of the registered models."""
    return sorted(_MODELS)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The builder registered under ``name``; an unknown name lists the valid ones."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {list_models()}") from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered under ``name`` with ``kwargs``."""
    return get_model_builder(name)(**kwargs)
