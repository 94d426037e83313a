"""Drop-in ``torch.nn`` modules for the activations and normalizations of the four papers."""

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
from normact.nn.blocks import ORDERS, ConvBlock, LinearBlock, NormActBlock, nwdbn_param_groups
from normact.nn.bounded import LeCunTanh
from normact.nn.centralize import WeightCentralization, centralize_weights
from normact.nn.crelu import CReLU
from normact.nn.gpn import GPN, LReLUGPN, ReLUGPN
from normact.nn.normalized import NLReLU, NormalizedActivation, NReLU, NSwish
from normact.nn.normprop import NormPropConv2d, NormPropLinear
from normact.nn.selu import DSELU, LSELU, SSELU

__all__ = [
    "DSELU",
    "ELU",
    "GELU",
    "GPN",
    "LSELU",
    "ORDERS",
    "SELU",
    "SSELU",
    "CReLU",
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
    "nwdbn_param_groups",
]
