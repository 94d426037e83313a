"""Weight decay on BN's shift and asymmetric saturation (bounded-activations paper, section 4.2).

The runs and claims are in ``bnorder_wd.yaml``: a Tanh VGG16_11 in the Convention order with the
NWDBN model's settings, and a weight decay on BN's shift beta swept from none upwards (BN's scale
gamma undecayed, the weights' decay fixed). The paper's argument: decay on the affine parameters pulls
Tanh's inputs to its centre, which lowers the asymmetry (channel skewness) of its outputs, and
asymmetry goes with accuracy. This module adds the paper's numbers and the sweep's figures, drawn by
functions that serve any sweep of a weight decay on a parameter group (``bnorder_affine_wd`` too).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure as MplFigure

from normact.experiments.analysis import Analysis, register_analysis
from normact.experiments.judge import measure
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.presets.bnorder import Variant, short_layer
from normact.experiments.report import Figure, Report, Section, markdown_table
from normact.experiments.results import StudyRuns
from normact.train import with_overrides

# The paper's numbers (VGG16_11, Tanh, CIFAR-100): no decay on BN (NWDBN) against the Convention model's
# decay on BN, sec. 4.2. Figure 5's points are not legible in our copy of the text.
PAPER_ACCURACY = {"NWDBN (no decay on BN)": 72.27, "Convention (decay on BN)": 69.50}
PAPER_GRID = "0 to 1e-3 in steps of 1e-4 on beta"


def group_decay(runs: StudyRuns, variant: str, group: str) -> float:
    """The weight decay a variant puts on parameter group ``group`` (``norm.bias``: BN's shift), read from
    its run config."""
    groups = with_overrides(runs.base, runs.variant_overrides()[variant]).optim.weight_decay_groups
    if group not in groups:
        raise ValueError(f"variant {variant!r} sets no weight decay on {group}; got groups {groups}")
    return float(groups[group])


class SweepPoint:
    """One variant (one decay on ``group``) of a sweep: its accuracy and ``metric`` per run, and that
    metric's layers (a metric of ``bnorder.Variant``: saturation, skewness or sparsity)."""

    def __init__(self, runs: StudyRuns, variant: str, group: str, metric: str) -> None:
        self.variant = variant
        self.decay = group_decay(runs, variant, group)
        self.acc = measure(runs, runs.preset.metrics["accuracy"], variant)
        self.values = measure(runs, runs.preset.metrics[metric], variant)
        self.layers = Variant(runs, variant).layers[metric]


def sweep_points(runs: StudyRuns, group: str, metric: str) -> list[SweepPoint]:
    """A :class:`SweepPoint` per variant with complete runs, by increasing decay."""
    return sorted(
        (SweepPoint(runs, v, group, metric) for v in runs.complete_variants()), key=lambda p: p.decay
    )


def _build(runs: StudyRuns, report: Report) -> None:
    points = sweep_points(runs, "norm.bias", "skewness")
    label, decay = "mean channel |skewness|", "weight decay on BN's beta"
    rows = [[k, f"{v:.2f}"] for k, v in PAPER_ACCURACY.items()]
    report.sections.append(Section(
        "The paper's numbers (VGG16_11, Tanh, CIFAR-100)",
        f"Test accuracy (%) as printed; the sweep itself ({PAPER_GRID}) is shown only as a figure.\n\n"
        + markdown_table(["model", "accuracy (%)"], rows),
    ))  # fmt: skip
    report.figures += [
        Figure(
            "sweep",
            "Accuracy (left) and mean channel |skewness| (right) against the decay on beta; "
            "dots: runs, line: mean",
            lambda fig: draw_sweep(fig, points, label, decay),
        ),
        Figure(
            "skewness_vs_accuracy",
            "Each run's mean channel |skewness| against its accuracy, coloured by the decay on beta",
            lambda fig: draw_scatter(fig, points, label, "decay on beta"),
            (6, 4.5),
        ),
        Figure(
            "skewness_layers",
            "Mean channel |skewness| of each layer, mean over runs, per decay on beta",
            lambda fig: draw_layers(fig, points, label, "decay on beta"),
            (7, 4),
        ),
    ]


# -- figures --------------------------------------------------------------------------------------


def _colors(points: list[SweepPoint]) -> list[tuple[float, ...]]:
    decays = [p.decay for p in points]
    norm = Normalize(min(decays), max(decays) if max(decays) > min(decays) else min(decays) + 1)
    return [colormaps["viridis"](norm(d)) for d in decays]


def draw_sweep(fig: MplFigure, points: list[SweepPoint], label: str, decay: str) -> None:
    """Accuracy (left) and the points' metric, called ``label`` (right), against the decay (``decay``):
    dots the runs, a line the means."""
    left, right = fig.subplots(1, 2)
    for ax, values, ylabel in (
        (left, lambda p: 100 * p.acc, "last-epoch test accuracy (%)"),
        (right, lambda p: p.values, label),
    ):
        xs, means = [], []
        for p in points:
            v = values(p)
            v = v[np.isfinite(v)]
            ax.scatter(np.full(v.size, p.decay), v, color="#1f77b4", s=14, alpha=0.6)
            if v.size:
                xs.append(p.decay)
                means.append(v.mean())
        ax.plot(xs, means, color="#1f77b4")
        ax.set(xlabel=decay, ylabel=ylabel)
        ax.grid(alpha=0.3)


def draw_scatter(fig: MplFigure, points: list[SweepPoint], label: str, decay: str) -> None:
    """Each run's metric (``label``) against its accuracy, coloured by the decay (legend ``decay``)."""
    ax = fig.add_subplot()
    for p, color in zip(points, _colors(points), strict=True):
        keep = np.isfinite(p.acc) & ~np.isnan(p.values)
        ax.scatter(p.values[keep], 100 * p.acc[keep], color=color, s=24, label=f"{p.decay:g}")
    ax.set(xlabel=label, ylabel="last-epoch test accuracy (%)")
    ax.legend(title=decay, fontsize=7, ncols=2)
    ax.grid(alpha=0.3)


def draw_layers(fig: MplFigure, points: list[SweepPoint], label: str, decay: str) -> None:
    """The metric (``label``) of each layer, mean over runs, one line per decay (legend ``decay``)."""
    ax = fig.add_subplot()
    names: list[str] = []
    for p, color in zip(points, _colors(points), strict=True):
        layers = p.layers
        if not layers:
            continue
        names = [short_layer(n) for n in layers]
        with np.errstate(all="ignore"):
            means = [float(np.nanmean(v)) if (~np.isnan(v)).any() else math.nan for v in layers.values()]
        ax.plot(range(len(means)), means, color=color, marker="o", markersize=3, label=f"{p.decay:g}")
    ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    ax.set(xlabel="layer", ylabel=label)
    ax.legend(title=decay, fontsize=7, ncols=2)
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(
    PRESET.name, Analysis(build=_build, table=["accuracy", "skewness", "saturation", "sparsity"])
)
