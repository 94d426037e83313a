"""Probes: per-layer signal statistics from hooks on any ``nn.Module``, read back as plain data."""

from normact.probes.activations import (
    ChannelSkewness,
    Mean,
    NonZeroRatio,
    Saturation,
    SecondMoment,
    Sparsity,
    asymptote_of,
)
from normact.probes.base import LayerProbe, Probe, ProbeSet, attach, quiet_forward
from normact.probes.depth import (
    compare_second_moments,
    plot_second_moments,
    predict_second_moments,
    theory_activation,
)
from normact.probes.gradients import GradNorm
from normact.probes.residual import ResidualDelta
from normact.probes.score import convergence_score, elementwise_derivative
from normact.probes.select import Where, activation_modules, is_activation, select_modules, weight_layers
from normact.probes.stats import RunningMoments, Series, skewness_from_moments, to_host
from normact.probes.weights import coherence, fan_in, sum_abs_weight_means, weight_means, weight_records

__all__ = [
    "ChannelSkewness",
    "GradNorm",
    "LayerProbe",
    "Mean",
    "NonZeroRatio",
    "Probe",
    "ProbeSet",
    "ResidualDelta",
    "RunningMoments",
    "Saturation",
    "SecondMoment",
    "Series",
    "Sparsity",
    "Where",
    "activation_modules",
    "asymptote_of",
    "attach",
    "coherence",
    "compare_second_moments",
    "convergence_score",
    "elementwise_derivative",
    "fan_in",
    "is_activation",
    "plot_second_moments",
    "predict_second_moments",
    "quiet_forward",
    "select_modules",
    "skewness_from_moments",
    "sum_abs_weight_means",
    "theory_activation",
    "to_host",
    "weight_layers",
    "weight_means",
    "weight_records",
]
