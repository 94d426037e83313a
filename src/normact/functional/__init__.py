"""Functional core of the layers: stateless math that ``normact.nn`` modules call."""

from normact.functional._fused import fused_kernels, fused_kernels_available
from normact.functional.activations import (
    LECUN_TANH_SCALE,
    SELU_ALPHA,
    SELU_LAMBDA,
    Elementwise,
    elementwise,
    elementwise_names,
    lecun_tanh,
    theory_activation,
)
from normact.functional.crelu import crelu, crelu_derivative
from normact.functional.normalized import (
    NonFiniteStatistics,
    normalization_factor,
    normalized_activation,
    normalized_activation_derivative,
    update_running_statistics,
)
from normact.functional.normprop import NORMPROP_GAMMA, normalized_weight, relu_gaussian_moments
from normact.functional.selu import dselu, lselu, selu_family, sselu

__all__ = [
    "LECUN_TANH_SCALE",
    "NORMPROP_GAMMA",
    "SELU_ALPHA",
    "SELU_LAMBDA",
    "Elementwise",
    "NonFiniteStatistics",
    "crelu",
    "crelu_derivative",
    "dselu",
    "elementwise",
    "elementwise_names",
    "fused_kernels",
    "fused_kernels_available",
    "lecun_tanh",
    "lselu",
    "normalization_factor",
    "normalized_activation",
    "normalized_activation_derivative",
    "normalized_weight",
    "relu_gaussian_moments",
    "selu_family",
    "sselu",
    "theory_activation",
    "update_running_statistics",
]
