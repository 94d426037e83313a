"""Weight decay on BN's shift and asymmetric saturation (bounded-activations paper, section 4.2).

The runs are in ``bnorder_wd.yaml``: a Tanh VGG16_11 in the Convention order with the NWDBN model's
settings, and a weight decay on BN's shift beta swept from none upwards (BN's scale gamma undecayed,
the weights' decay fixed). The paper's argument: decay on the affine parameters pulls Tanh's inputs to
its centre, which lowers the asymmetry (channel skewness) of its outputs, and asymmetry goes with
accuracy. The analysis: per decay, accuracy and the layer means of channel |skewness|, saturation and
sparsity at the last epoch; verdicts by Spearman's rank correlation over the runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure as MplFigure

from normact.experiments import stats
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.presets.bnorder import Variant, short_layer
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table, settings_table
from normact.experiments.results import StudyRuns
from normact.experiments.verdict import Verdict, decide
from normact.train import with_overrides

# The paper's numbers (VGG16_11, Tanh, CIFAR-100): no decay on BN (NWDBN) against the Convention model's
# decay on BN, sec. 4.2. Figure 5's points are not legible in our copy of the text.
PAPER_ACCURACY = {"NWDBN (no decay on BN)": 72.27, "Convention (decay on BN)": 69.50}
PAPER_GRID = "0 to 1e-3 in steps of 1e-4 on beta"

CLAIM_SKEW = (
    "Weight decay on BN's shift lowers the asymmetric saturation (channel |skewness|) of Tanh (sec. 4.2)"
)
CLAIM_CORRELATION = "Accuracy and the degree of asymmetric saturation are highly correlated (sec. 1, 4.2)"
CLAIM_ACCURACY = (
    "Weight decay on BN's shift lowers accuracy (sec. 4.2: NWDBN 72.27 % against Convention 69.50 %)"
)
CLAIMS = (CLAIM_SKEW, CLAIM_CORRELATION, CLAIM_ACCURACY)


def beta_decay(runs: StudyRuns, variant: str) -> float:
    """The weight decay a variant puts on BN's shift (``norm.bias``), read from its run config."""
    groups = with_overrides(
        runs.base, runs.preset.variants_of(runs.scale.name)[variant]
    ).optim.weight_decay_groups
    if "norm.bias" not in groups:
        raise ValueError(f"variant {variant!r} sets no weight decay on norm.bias; got groups {groups}")
    return float(groups["norm.bias"])


class _Point:
    """One variant (one decay) of the sweep."""

    def __init__(self, runs: StudyRuns, variant: str) -> None:
        self.variant = variant
        self.decay = beta_decay(runs, variant)
        self.data = Variant(runs, variant)


def analyze(runs: StudyRuns) -> Report:
    """The sweep's table, figures and verdicts from the runs of one scale."""
    points = sorted((_Point(runs, v) for v in runs.complete_variants()), key=lambda p: p.decay)
    report = Report.for_runs(runs, _summary(runs, points))
    report.verdicts = _verdicts(points)
    report.sections = [
        Section(f"Per decay on beta, ours ({runs.scale.name} scale)", _table(points)),
        Section("The paper's numbers (VGG16_11, Tanh, CIFAR-100)", _table_paper()),
        Section("Settings", settings_table(runs) + "\n\n" + runs.scale.notes),
    ]
    report.figures = [
        Figure(
            "sweep",
            "Accuracy (left) and mean channel |skewness| (right) against the decay on beta; "
            "dots: runs, line: mean",
            lambda fig: _draw_sweep(fig, points),
        ),
        Figure(
            "skewness_vs_accuracy",
            "Each run's mean channel |skewness| against its accuracy, coloured by the decay on beta",
            lambda fig: _draw_scatter(fig, points),
            (6, 4.5),
        ),
        Figure(
            "skewness_layers",
            "Mean channel |skewness| of each layer, mean over runs, per decay on beta",
            lambda fig: _draw_layers(fig, points),
            (7, 4),
        ),
    ]
    return report


def _summary(runs: StudyRuns, points: list[_Point]) -> str:
    parts = [
        f"{runs.n_runs} complete runs ({len(points)} decays on beta, seeds "
        f"{runs.seeds[0]}-{runs.seeds[-1]}), "
        f"{runs.epochs} epochs each; numbers after the last epoch, a run's metrics are means over its layers."
    ]
    diverged = [f"beta decay {p.decay:g} seeds {p.data.diverged}" for p in points if p.data.diverged]
    if diverged:
        parts.append(
            "Diverged (ranked last in accuracy, left out of the other metrics): " + "; ".join(diverged) + "."
        )
    parts.append(runs.status_text())
    return " ".join(parts)


def _mean_sd(x: np.ndarray, digits: int, scale: float = 1.0) -> str:
    x = x[np.isfinite(x)]
    if not x.size:
        return "–"
    sd = f" ± {fmt(float(np.std(x, ddof=1)), digits, scale)}" if x.size > 1 else ""
    return fmt(float(np.mean(x)), digits, scale) + sd


def _table(points: list[_Point]) -> str:
    rows = [
        [
            f"{p.decay:g}",
            _mean_sd(p.data.acc, 2, 100),
            _mean_sd(p.data.mean["skewness"], 3),
            _mean_sd(p.data.mean["saturation"], 3),
            _mean_sd(p.data.mean["sparsity"], 3),
            p.data.n,
        ]
        for p in points
    ]
    header = ["decay on beta", "accuracy (%)", "channel |skewness|", "saturation", "sparsity", "runs"]
    return (
        "Mean ± standard deviation over runs of the last-epoch test accuracy and of each run's mean over "
        "layers of channel |skewness| and saturation (Tanh outputs) and sparsity (block outputs).\n\n"
        + markdown_table(header, rows)
    )


def _table_paper() -> str:
    rows = [[k, f"{v:.2f}"] for k, v in PAPER_ACCURACY.items()]
    return (
        f"Test accuracy (%) as printed; the sweep itself ({PAPER_GRID}) is shown only as a figure.\n\n"
        + markdown_table(["model", "accuracy (%)"], rows)
    )


def _pooled(points: list[_Point], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-run pairs (x, y) over every decay; "decay", "acc" or a metric; runs without a value left out."""

    def values(p: _Point, what: str) -> np.ndarray:
        if what == "decay":
            return np.full(p.data.n, p.decay)
        return p.data.acc if what == "acc" else p.data.mean[what]

    xs = np.concatenate([values(p, x) for p in points])
    ys = np.concatenate([values(p, y) for p in points])
    keep = ~(np.isnan(xs) | np.isnan(ys))
    return xs[keep], ys[keep]


def _correlation(claim: str, points: list[_Point], x: str, y: str, sign: int, what: str) -> Verdict | None:
    xs, ys = _pooled(points, x, y)
    if xs.size < 3:
        return None
    rho, p_greater, p_less = stats.spearman(xs, ys)
    p_for, p_against = (p_greater, p_less) if sign > 0 else (p_less, p_greater)
    direction = "rho > 0" if sign > 0 else "rho < 0"
    evidence = f"Spearman's rho = {rho:.3f} between {what} over {xs.size} runs (the claim: {direction})"
    needed = stats.n_for_correlation(rho * sign)  # the correlation in the claim's direction
    return decide(claim, p_for, p_against, evidence, needed, "runs")


def _verdicts(points: list[_Point]) -> list[Verdict]:
    out = [
        _correlation(
            CLAIM_SKEW, points, "decay", "skewness", -1, "the decay on beta and the mean channel |skewness|"
        ),
        _correlation(
            CLAIM_CORRELATION, points, "skewness", "acc", 1, "the mean channel |skewness| and accuracy"
        ),
        _correlation(
            CLAIM_ACCURACY,
            points,
            "decay",
            "acc",
            -1,
            "the decay on beta and accuracy (a diverged run ranks last)",
        ),
    ]
    return [v for v in out if v is not None]


# -- figures --------------------------------------------------------------------------------------


def _colors(points: list[_Point]) -> list[tuple[float, ...]]:
    decays = [p.decay for p in points]
    norm = Normalize(min(decays), max(decays) if max(decays) > min(decays) else min(decays) + 1)
    return [colormaps["viridis"](norm(d)) for d in decays]


def _draw_sweep(fig: MplFigure, points: list[_Point]) -> None:
    left, right = fig.subplots(1, 2)
    for ax, values, label in (
        (left, lambda p: 100 * p.data.acc, "last-epoch test accuracy (%)"),
        (right, lambda p: p.data.mean["skewness"], "mean channel |skewness|"),
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
        ax.set(xlabel="weight decay on BN's beta", ylabel=label)
        ax.grid(alpha=0.3)


def _draw_scatter(fig: MplFigure, points: list[_Point]) -> None:
    ax = fig.add_subplot()
    for p, color in zip(points, _colors(points), strict=True):
        keep = np.isfinite(p.data.acc) & ~np.isnan(p.data.mean["skewness"])
        ax.scatter(
            p.data.mean["skewness"][keep], 100 * p.data.acc[keep], color=color, s=24, label=f"{p.decay:g}"
        )
    ax.set(xlabel="mean channel |skewness|", ylabel="last-epoch test accuracy (%)")
    ax.legend(title="decay on beta", fontsize=7, ncols=2)
    ax.grid(alpha=0.3)


def _draw_layers(fig: MplFigure, points: list[_Point]) -> None:
    ax = fig.add_subplot()
    names: list[str] = []
    for p, color in zip(points, _colors(points), strict=True):
        layers = p.data.layers["skewness"]
        if not layers:
            continue
        names = [short_layer(n) for n in layers]
        with np.errstate(all="ignore"):
            means = [float(np.nanmean(v)) if (~np.isnan(v)).any() else math.nan for v in layers.values()]
        ax.plot(range(len(means)), means, color=color, marker="o", markersize=3, label=f"{p.decay:g}")
    ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    ax.set(xlabel="layer", ylabel="mean channel |skewness|")
    ax.legend(title="decay on beta", fontsize=7, ncols=2)
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml"), CLAIMS, analyze))
