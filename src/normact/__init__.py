"""normact: normalized and self-normalizing activations for PyTorch."""

import importlib

__version__ = "0.1.0"

# The torch-side API, imported on first use so that ``import normact.theory`` stays numpy/scipy only.
_EXPORTS = {
    "create_act": "normact.registry",
    "get_act_layer": "normact.registry",
    "list_acts": "normact.registry",
    "register_act": "normact.registry",
    "convert_activations": "normact.convert",
    "init_weights": "normact.init",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'normact' has no attribute {name!r}")
