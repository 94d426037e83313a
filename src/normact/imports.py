"""A user's own code by name: ``package.module:attribute`` specs and module imports (torch-free)."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["call_object", "import_modules", "is_object_spec", "load_object"]


def is_object_spec(name: object) -> bool:
    """True for a string of the form ``module:attribute``."""
    return isinstance(name, str) and ":" in name


def import_modules(names: Iterable[str]) -> None:
    """Import each module (e.g. one that registers models or datasets); the current folder is searched too."""
    for name in names:
        _import(name, f"--import {name}")


def load_object(spec: str, what: str) -> object:
    """The object ``attribute`` of module ``module`` for ``spec = "module:attribute"`` (dots allowed in both).

    ``what`` names the setting in the error messages, e.g. ``"model.name"``.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{what}: {spec!r} is not of the form package.module:function")
    module = _import(module_name, what)
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            raise ValueError(f"{what}: module {module_name!r} has no attribute {attr!r}; it defines {public}")
        obj = getattr(obj, part)
    return obj


def call_object(
    spec: str, what: str, kwargs: Mapping[str, Any], offered: Mapping[str, Any] | None = None
) -> object:
    """Call the function at ``spec`` with ``kwargs``, plus those of ``offered`` that it accepts.

    A signature that cannot take ``kwargs`` is a ValueError naming ``what``, the signature and the
    arguments, before the function runs.
    """
    fn = load_object(spec, what)
    if not callable(fn):
        raise ValueError(f"{what}: {spec} is a {type(fn).__name__}, not a function or class")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return fn(**kwargs, **(offered or {}))
    open_ended = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    call = {k: v for k, v in (offered or {}).items() if open_ended or k in sig.parameters}
    call.update(kwargs)
    try:
        sig.bind(**call)
    except TypeError as err:
        raise ValueError(f"{what}: {spec}{sig} cannot be called with {sorted(call)}: {err}") from None
    return fn(**call)


def _import(name: str, what: str) -> object:
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` does: the user's package beside the config
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ValueError(
            f"{what}: cannot import module {name!r} ({err}); it must be importable from the current "
            "folder or PYTHONPATH"
        ) from err
