"""The CReLU / NormProp ResNet study (Shang, Chiu, Sohn): Tables 1-2, Figures 2-3.

The runs and the claims are in ``crelu_normprop.yaml``: CIFAR-style ResNets with Plain, NormProp,
NormProp2, NormProp3 or BatchNorm convolutions, each with ReLU or CReLU. This module adds the paper's
printed numbers (shown beside ours, never used as expectations), the two metrics no other preset
computes (the late share of the residual Delta, the coherence of each run's initial weights) and the
paper-shaped parts of the report:

- Table 2: final test error of each variant (median and range over seeds, diverged runs counted);
- Table 1: the last ReLU's output as mean ± std where the runs measured its mean (the full scales),
  else its second moment ``E[y^2] = mean^2 + var``; and its non-zero ratio (NZR);
- Figure 2: the residual Delta of every block after training;
- Figure 3: the coherence of every block convolution after training, and at initialisation (the
  model rebuilt with each run's seed, ``analysis.initial_values``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from normact.experiments.analysis import (
    Analysis,
    initial_values,
    last,
    median_curve,
    nan_median,
    per_run,
    register_analysis,
)
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns
from normact.probes.callbacks import WeightCoherence

NORMS = ("plain", "normprop", "normprop2", "normprop3", "bn")
ACTS = ("relu", "crelu")
NORM_LABELS = {
    "plain": "Plain",
    "normprop": "NormProp",
    "normprop2": "NormProp2",
    "normprop3": "NormProp3",
    "bn": "BatchNorm",
    "plain_nobias": "Plain (no bias)",
    "bn_double": "BatchNorm (double)",
}
ACT_LABELS = {"relu": "ReLU", "crelu": "CReLU"}

# Table 2 (ResNet-110, median of 5 runs): test error (%) on CIFAR-10 and CIFAR-100. None: not in the
# table (NormProp3 was only run on ImageNet; NormProp with CReLU "did not manage to train").
PAPER_TABLE2: dict[str, tuple[float, float] | None] = {
    "plain_relu": (7.78, 36.10),
    "normprop_relu": (11.60, 37.60),
    "normprop2_relu": (7.46, 31.71),
    "normprop3_relu": None,
    "bn_relu": (6.35, 27.46),
    "plain_crelu": (6.86, 28.24),
    "normprop_crelu": None,
    "normprop2_crelu": (7.22, 29.29),
    "normprop3_crelu": None,
    "bn_crelu": (5.72, 25.89),
    # the rows that only the full scales run: plain networks without conv biases, a BN ReLU network
    # with twice the filters
    "plain_nobias_relu": (12.16, 40.00),
    "bn_double_relu": (7.27, 27.33),
    "plain_nobias_crelu": (7.17, 28.71),
}
# Table 1 (ResNet-110 on CIFAR-100): mean +- std of the activation after the last ReLU, and its NZR.
PAPER_TABLE1: dict[str, tuple[float, float, float]] = {
    "plain_relu": (30.81, 36.69, 0.14),
    "normprop_relu": (28.68, 33.58, 0.21),
    "bn_relu": (3.77, 4.43, 0.51),
    "plain_crelu": (24.53, 26.02, 0.50),
    "normprop_crelu": (10.41, 10.28, 0.50),
    "bn_crelu": (1.94, 1.99, 0.50),
}
# Table 4 (ImageNet, single-crop top-1 error %), the rows with NormProp3: depth -> act -> norm -> error.
PAPER_TABLE4_TOP1 = {
    34: {
        "relu": {"plain": 29.92, "normprop2": 29.23, "normprop3": 29.72, "bn": 26.73},
        "crelu": {"plain": 28.85, "normprop2": 29.31, "normprop3": 28.28, "bn": 25.62},
    },
    50: {
        "relu": {"plain": 31.48, "normprop2": 29.75, "normprop3": 28.08, "bn": 24.01},
        "crelu": {"plain": 28.00, "normprop2": 29.06, "normprop3": 26.12, "bn": 23.03},
    },
}


def _label(variant: str) -> str:
    norm, _, act = variant.rpartition("_")
    return f"{NORM_LABELS.get(norm, norm)} {ACT_LABELS.get(act, act)}"


def _block_order(name: str) -> tuple[int, ...]:
    """``layer2.10`` -> (2, 10), so that blocks sort by stage, then by index."""
    return tuple(int(n) for n in re.findall(r"\d+", name))


def _single(runs: StudyRuns, variant: str, prefix: str) -> np.ndarray:
    """Last-epoch values ``(runs,)`` of a metric family measured on one layer (e.g. the last ReLU)."""
    family = runs.family(variant, prefix)
    if not family:
        return np.full(len(runs.runs[variant]), np.nan)
    if len(family) > 1:
        raise ValueError(
            f"{prefix} is measured on {len(family)} layers; the analysis expects the last ReLU only"
        )
    (series,) = family.values()
    return last(series)


class _Variant:
    """The numbers of one variant's runs that the tables, figures and verdicts use."""

    def __init__(self, runs: StudyRuns, variant: str, init_coherence: dict[int, dict[str, float]]) -> None:
        self.name = variant
        self.seeds = [r.seed for r in runs.runs[variant]]
        self.diverged = sum(r.status == "diverged" for r in runs.runs[variant])
        self.acc = runs.series(variant, "test_acc")  # (runs, epochs)
        # a diverged run did not train: its error ranks as the worst (inf); the table shows it apart
        self.error = np.array(
            [
                math.inf if r.status == "diverged" or math.isnan(a) else 1.0 - a
                for r, a in zip(runs.runs[variant], last(self.acc), strict=True)
            ]
        )
        deltas = runs.family(variant, "residual_delta/")
        self.blocks = sorted(deltas, key=_block_order)
        # (runs, blocks) after the last epoch
        self.delta = np.array([last(deltas[b]) for b in self.blocks]).reshape(-1, self.n).T
        half = len(self.blocks) // 2
        with np.errstate(invalid="ignore", divide="ignore"):
            total = self.delta.sum(axis=1)
            self.late_share = (
                self.delta[:, half:].sum(axis=1) / total if self.blocks else np.full(self.n, np.nan)
            )
        trained = np.array([r.status != "diverged" for r in runs.runs[variant]])
        self.delta[~trained] = np.nan  # a diverged run's last measurements describe no trained network
        self.late_share[~trained] = np.nan
        self.nzr = np.where(trained, _single(runs, variant, "nonzero_ratio/"), np.nan)
        self.second_moment = np.where(trained, _single(runs, variant, "second_moment/"), np.nan)
        self.mean = np.where(trained, _single(runs, variant, "mean/"), np.nan)
        with np.errstate(invalid="ignore"):
            self.std = np.sqrt(np.maximum(self.second_moment - self.mean**2, 0.0))  # NaN without a mean
        coh = runs.family(variant, "coherence/")
        self.layers = sorted(coh, key=_block_order)
        self.coherence = np.array([last(coh[k]) for k in self.layers]).reshape(-1, self.n).T
        self.coherence[~trained] = np.nan
        self.mean_coherence = per_run(self.coherence, np.mean)
        init = [init_coherence.get(s, {}) for s in self.seeds]
        self.init_coherence = np.array([[c.get(k, np.nan) for k in self.layers] for c in init]).reshape(
            self.n, len(self.layers)
        )
        self.mean_init_coherence = per_run(self.init_coherence, np.mean)

    @property
    def n(self) -> int:
        return len(self.seeds)


def _coherence_where(runs: StudyRuns) -> str | None:
    """The ``where`` of the ``coherence`` probe of the runs; None when they do not measure it."""
    for spec in runs.base.train.probes:
        if isinstance(spec, dict) and spec.get("name") == "coherence":
            return spec.get("where")
        if spec == "coherence":
            return None
    raise LookupError("no coherence probe")


def _init_coherence(runs: StudyRuns, variant: str) -> dict[int, dict[str, float]]:
    """Coherence of each run's initial weights, by seed and layer; empty when the runs measure none."""
    try:
        probe = WeightCoherence(_coherence_where(runs))
    except LookupError:
        return {}
    return {
        seed: {k.removeprefix("coherence/"): v for k, v in values.items()}
        for seed, values in initial_values(runs, variant, probe).items()
    }


def late_share(runs: StudyRuns, variant: str) -> np.ndarray:
    """Per run: the share of the summed residual Delta (last epoch) on the latter half of the blocks."""
    return _Variant(runs, variant, {}).late_share


def init_coherence(runs: StudyRuns, variant: str) -> np.ndarray:
    """Per run: the mean over the block convolutions of the coherence of its initial weights."""
    return _Variant(runs, variant, _init_coherence(runs, variant)).mean_init_coherence


def _build(runs: StudyRuns, report: Report) -> None:
    data = {v: _Variant(runs, v, _init_coherence(runs, v)) for v in runs.complete_variants()}
    report.sections += [
        Section(f"Table 2, ours ({runs.scale.name} scale)", _table_error(data)),
        Section("Table 2, the paper (ResNet-110, median of 5 runs)", _table_error_paper()),
        Section("Table 1: the last ReLU, ours and the paper's", _table_last_relu(data)),
        Section("Residual Delta per block (Figure 2)", _table_delta(data)),
        Section("Filter coherence (Figure 3)", _table_coherence(data)),
        Section("Table 4, the paper (ImageNet, top-1 error %, single crop)", _table4_paper()),
    ]
    report.figures += [
        Figure(
            "figure2",
            "Figure 2: median residual Delta of each block after training",
            lambda f: _draw_delta(f, data),
        ),
        Figure("error", "Median test error per epoch", lambda f: _draw_error(f, data)),
        Figure(
            "figure3",
            "Figure 3: median coherence of each block convolution after training (solid) and at "
            "initialisation (dotted)",
            lambda f: _draw_coherence(f, data),
        ),
    ]


def _pct(x: float) -> str:
    return "∞" if math.isinf(x) else fmt(x, 2, 100)


def _errors(values: np.ndarray) -> str:
    return "[" + ", ".join("div." if math.isinf(v) else fmt(v, 1, 100) for v in values) + "]"


def _table_error(data: dict[str, _Variant]) -> str:
    rows = []
    for v, d in data.items():
        finite = d.error[np.isfinite(d.error)]
        rows.append(
            [
                _label(v),
                _pct(nan_median(d.error)),
                f"{fmt(finite.min(), 2, 100)}-{fmt(finite.max(), 2, 100)}" if finite.size else "–",
                _errors(d.error),
                f"{d.diverged}/{d.n}",
            ]
        )
    return (
        "Test error (%) after the last epoch; a diverged run (div.) counts as the worst error.\n\n"
        + markdown_table(["model", "median", "range (trained runs)", "per seed", "diverged"], rows)
    )


def _table_error_paper() -> str:
    rows = [
        [_label(v), *(("–", "–") if e is None else (f"{e[0]:.2f}", f"{e[1]:.2f}"))]
        for v, e in PAPER_TABLE2.items()
    ]
    return (
        "As printed (test error %). NormProp3 appears only in the ImageNet Table 4; NormProp with CReLU "
        'could not be trained ("we did not manage to train CReLU ResNet models even after trying out many '
        'different initial learning rates").\n\n' + markdown_table(["model", "CIFAR-10", "CIFAR-100"], rows)
    )


def _table_last_relu(data: dict[str, _Variant]) -> str:
    with_mean = any((~np.isnan(d.mean)).any() for d in data.values())
    rows = []
    for v, d in data.items():
        paper = PAPER_TABLE1.get(v)
        ours = (
            [
                f"{fmt(nan_median(d.mean), 2)} ± {fmt(nan_median(d.std), 2)}",
                fmt(nan_median(d.second_moment), 3),
            ]
            if with_mean
            else [fmt(nan_median(d.second_moment), 3), fmt(nan_median(np.sqrt(d.second_moment)), 3)]
        )
        rows.append(
            [
                _label(v),
                *ours,
                fmt(nan_median(d.nzr), 3),
                "–" if paper is None else f"{paper[0]:.2f} ± {paper[1]:.2f}",
                "–" if paper is None else f"{paper[2]:.2f}",
            ]
        )
    measured = (
        ["mean ± std (medians)", "E[y^2] (median)"] if with_mean else ["E[y^2] (median)", "RMS"]
    )  # fmt: skip
    header = ["model", *measured, "NZR (median)", "paper: mean ± std", "paper: NZR"]
    how = (
        "The paper prints the mean and standard deviation of y; so do we: the median over runs of each "
        "run's mean, ± the median of each run's standard deviation sqrt(E[y^2] - mean^2), beside E[y^2]."
        if with_mean
        else "The paper prints the mean and standard deviation of y; we record its second moment "
        "E[y^2] = mean^2 + var (both large means E[y^2] large) and its RMS."
    )
    return (
        "After training, on the probe samples: the output y of the last ReLU (the one after the last "
        f"addition, which feeds the average pool). {how} In our CReLU networks the last activation is a "
        "ReLU after the addition (CReLU sits inside the residual branch), so its NZR is measured, not 0.5 "
        "by construction as in the paper's Table 1.\n\n" + markdown_table(header, rows)
    )


def _table_delta(data: dict[str, _Variant]) -> str:
    blocks = max((d.blocks for d in data.values()), key=len)
    many = len(blocks) > 12
    shown = (
        blocks if not many else [blocks[i] for i in np.linspace(0, len(blocks) - 1, 10).round().astype(int)]
    )
    rows = []
    for v, d in data.items():
        index = {b: i for i, b in enumerate(d.blocks)}
        rows.append(
            [
                _label(v),
                *(fmt(nan_median(d.delta[:, index[b]]), 3) if b in index else "–" for b in shown),
                fmt(nan_median(d.late_share), 3),
            ]
        )
    half = len(blocks) // 2
    which = f"; {len(shown)} of the {len(blocks)} blocks shown, evenly spaced" if many else ""
    return (
        "Median over runs of Delta = mean over positions of ||x_out - x_in||_2 (over channels) of each block "
        "after training, on the probe samples (x_in: the shortcut's output, so blocks that change shape are "
        f"compared with their projected input){which}. "
        f"Last column: the share of the summed Delta that falls on the latter {len(blocks) - half} of the "
        f"{len(blocks)} blocks (0.5 when every block changes its input alike).\n\n"
        + markdown_table(["model", *shown, "latter-half share"], rows)
    )


def _table_coherence(data: dict[str, _Variant]) -> str:
    rows = [
        [
            _label(v),
            fmt(nan_median(d.mean_init_coherence), 3),
            fmt(nan_median(d.mean_coherence), 3),
            fmt(nan_median(per_run(d.coherence, np.max)), 3),
        ]
        for v, d in data.items()
    ]
    return (
        "Coherence max_{i != j} |W_i . W_j| / (||W_i|| ||W_j||) of each block convolution (filters "
        "flattened), averaged over the layers of a run; median over runs. At initialisation: the same runs' "
        "initial weights. Near 0 means near-orthogonal filters, which NormProp's Canonical Error Bound "
        "assumes; random filters of these sizes are already far from 0.\n\n"
        + markdown_table(
            ["model", "at init (mean over layers)", "trained (mean over layers)", "trained (max)"], rows
        )
    )


def _table4_paper() -> str:
    rows = [
        [depth, ACT_LABELS[act], *(f"{errors[n]:.2f}" for n in ("plain", "normprop2", "normprop3", "bn"))]
        for depth, by_act in PAPER_TABLE4_TOP1.items()
        for act, errors in by_act.items()
    ]
    return "As printed (the NormProp3 evidence):\n\n" + markdown_table(
        ["depth", "act", "Plain", "NormProp2", "NormProp3", "BatchNorm"], rows
    )


# -- figures ----------------------------------------------------------------------------------------

_COLORS = {
    "plain": "#7f7f7f",
    "normprop": "#d62728",
    "normprop2": "#ff7f0e",
    "normprop3": "#9467bd",
    "bn": "#1f77b4",
    "plain_nobias": "#bcbd22",
    "bn_double": "#17becf",
}


def _style(variant: str) -> dict[str, Any]:
    norm, _, act = variant.rpartition("_")
    return {
        "color": _COLORS.get(norm, "black"),
        "linestyle": "-" if act == "relu" else "--",
        "label": _label(variant),
    }


def _draw_panels(
    fig: MplFigure,
    data: dict[str, _Variant],
    plot: Callable[[Any, str, _Variant], None],
    xlabel: str,
    ylabel: str,
    **axis: Any,
) -> None:
    """One panel per activation (ReLU, CReLU) on a shared y axis; ``plot(ax, variant, data)`` draws a
    variant of the panel's activation."""
    axes = fig.subplots(1, 2, sharey=True)
    for ax, act in zip(axes, ACTS):
        for v, d in data.items():
            if v.endswith("_" + act):
                plot(ax, v, d)
        ax.set(xlabel=xlabel, title=ACT_LABELS[act], **axis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[0].set_ylabel(ylabel)


def _draw_delta(fig: MplFigure, data: dict[str, _Variant]) -> None:
    def plot(ax: Any, v: str, d: _Variant) -> None:
        if d.blocks:
            x = np.arange(1, len(d.blocks) + 1)
            ax.plot(x, median_curve(d.delta), marker="o", markersize=3, **_style(v))

    _draw_panels(fig, data, plot, "residual block", "median Delta", yscale="log")


def _draw_error(fig: MplFigure, data: dict[str, _Variant]) -> None:
    def plot(ax: Any, v: str, d: _Variant) -> None:
        ax.plot(np.arange(1, d.acc.shape[1] + 1), 100 * (1 - median_curve(d.acc)), **_style(v))

    _draw_panels(fig, data, plot, "epoch", "median test error (%)")


def _draw_coherence(fig: MplFigure, data: dict[str, _Variant]) -> None:
    def plot(ax: Any, v: str, d: _Variant) -> None:
        if not d.layers:
            return
        x = np.arange(1, len(d.layers) + 1)
        style = _style(v)
        ax.plot(x, median_curve(d.coherence), **{**style, "linestyle": "-"})
        if not np.isnan(d.init_coherence).all():
            ax.plot(x, median_curve(d.init_coherence), color=style["color"], linestyle=":", linewidth=1)

    _draw_panels(fig, data, plot, "block convolution", "median coherence", ylim=(0, 1.02))


_loaded = load_preset(Path(__file__).with_suffix(".yaml"))
PRESET = register_preset(
    dataclasses.replace(
        _loaded, labels={v: _label(v) for s in _loaded.scales for v in _loaded.variants_of(s)}
    )
)
register_analysis(
    PRESET.name,
    Analysis(
        measures={"late_share": late_share, "init_coherence": init_coherence},
        build=_build,
        table=["accuracy", "broke_down", "late_share", "second_moment", "nzr", "coherence", "init_coherence"],
    ),
)
