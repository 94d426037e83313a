"""normact: normalized and self-normalizing activations for PyTorch.

The layers (``normact.NReLU``, ``normact.SSELU``, ...), the registry, ``convert_activations`` and the
initialisers are importable from the top level; they are loaded on first use, so that
``import normact.theory`` stays numpy/scipy only.
"""

import importlib

__version__ = "0.1.0"

# name -> module defining it (imported on first access)
_EXPORTS = {
    **dict.fromkeys(
        (
            "CReLU",
            "DSELU",
            "ELU",
            "GELU",
            "GPN",
            "LSELU",
            "SELU",
            "SSELU",
            "ConvBlock",
            "Identity",
            "LReLUGPN",
            "LeCunTanh",
            "LeakyReLU",
            "LinearBlock",
            "Mish",
            "NLReLU",
            "NReLU",
            "NSwish",
            "NormActBlock",
            "NormPropConv2d",
            "NormPropLinear",
            "NormalizedActivation",
            "ReLU",
            "ReLUGPN",
            "Sigmoid",
            "Softplus",
            "Softsign",
            "Swish",
            "Tanh",
            "WeightCentralization",
            "centralize_weights",
        ),
        "normact.nn",
    ),
    "create_act": "normact.registry",
    "get_act_layer": "normact.registry",
    "list_acts": "normact.registry",
    "register_act": "normact.registry",
    "convert_activations": "normact.convert",
    "gain": "normact.init",
    "init_weights": "normact.init",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'normact' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
