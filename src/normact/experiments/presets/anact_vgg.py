"""ANAct's VGG19 study (section 3.2, Tables 2-3, Figure 5): normalized activations with and without BN.

The runs and the claims are in ``anact_vgg.yaml``. This module adds the paper's printed numbers
(shown beside ours, never used as expectations) and the paper-shaped parts of the report:

- Tables 2-3, ours: per activation the best top-1 accuracy of each run (median with its
  order-statistic interval, mean with Student's t interval), the last epoch's accuracy, the mean
  accuracy over the epochs (the area under the curve: a run that converges earlier has a larger one)
  and the median Score (eq. 22).
- Figure 5: median validation accuracy per epoch, with BN and without; the Score per epoch; each run's
  mean Score against its mean accuracy over the epochs.

The paper's Table 3 prints "NReLU" twice; its text says the second one is the normalized LeakyReLU
(compared with LReLU-GPN), so we call that row NLReLU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from normact.experiments import stats
from normact.experiments.analysis import Analysis, median_curve, nan_median, per_run, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table, plain_log_ticks
from normact.experiments.results import StudyRuns
from normact.train import with_overrides

NORMALIZED = ("nrelu", "nswish", "nrelu_nobn", "nlrelu_nobn", "nswish_nobn")

# The paper's Table 2 (VGG19 with BN, CIFAR-100, median of 3 runs): top-1 and top-5 accuracy (%).
PAPER_TABLE2: dict[str, tuple[float, float]] = {
    "tanh": (25.63, 55.50),
    "leaky_relu": (65.65, 84.69),
    "elu": (59.92, 85.13),
    "relu": (65.65, 85.50),
    "nrelu": (66.11, 87.13),
    "swish": (64.05, 85.93),
    "nswish": (65.72, 87.40),
}
# The paper's Table 3 (VGG19 without BN, CIFAR-100): top-1 and top-5 of each of 3 runs (%), ordered by
# top-1. SELU and the GPN rows were trained with SGD (lr 0.01, times 0.2 every 60 epochs).
PAPER_TABLE3: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "selu_nobn": ((64.49, 64.16, 63.83), (87.28, 87.31, 87.07)),
    "relu_gpn_nobn": ((64.03, 63.78, 63.40), (86.04, 86.29, 86.31)),
    "nrelu_nobn": ((67.28, 66.31, 66.02), (87.65, 88.00, 88.15)),
    "lrelu_gpn_nobn": ((64.09, 63.73, 63.28), (86.03, 85.87, 86.06)),
    "nlrelu_nobn": ((66.33, 66.22, 66.06), (88.09, 88.42, 87.89)),
    "nswish_nobn": ((64.66, 63.19, 63.15), (85.49, 85.47, 86.21)),
}


class _Variant:
    """The numbers of one activation's runs that the tables, figures and verdicts use."""

    def __init__(self, runs: StudyRuns, variant: str) -> None:
        self.name = variant
        self.n = len(runs.runs[variant])
        self.acc = runs.series(variant, "test_acc")  # (runs, epochs)
        # a run without any accuracy (diverged in its first epoch) ranks below every other run
        self.best = per_run(self.acc, np.max, 0.0)
        self.best5 = per_run(runs.series(variant, "test_acc5"), np.max)
        self.last = per_run(self.acc, lambda r: r[-1])
        # the mean accuracy over all epochs; epochs after a divergence count as 0, so a diverged run is slow
        self.auc = np.nan_to_num(self.acc, nan=0.0).mean(axis=1)
        self.score = runs.series(variant, "score")
        with np.errstate(invalid="ignore"):
            self.run_score = per_run(self.score, np.mean)
        self.diverged = sum(r.status == "diverged" for r in runs.runs[variant])
        cfg = with_overrides(runs.base, runs.preset.variants_of(runs.scale.name)[variant])
        self.bn = cfg.model.kwargs.get("block_order", "convention") != "none"
        self.init = cfg.model.init or "the model's default"
        self.optim = f"{cfg.optim.name} {cfg.optim.lr:g}" + (
            f", x{cfg.schedule.gamma:g} every {cfg.schedule.step_size} epochs"
            if cfg.schedule.name == "step"
            else ""
        )


def _build(runs: StudyRuns, report: Report) -> None:
    data = {v: _Variant(runs, v) for v in runs.complete_variants()}
    label = runs.preset.label
    report.sections += [
        Section(f"Tables 2-3, ours ({runs.scale.name} scale)",
                _table_ours(data, label, runs.base.train.probe_samples)),
        Section("Table 2, the paper (VGG19 with BN, CIFAR-100, median of 3 runs)", _table_paper2(label)),
        Section("Table 3, the paper (VGG19 without BN, CIFAR-100, 3 runs each)", _table_paper3(label)),
        Section("Recipe", _recipe(runs)),
    ]  # fmt: skip
    report.figures += [
        Figure(
            "figure5",
            "Figure 5: median validation accuracy per epoch, VGG19 with BN (left) and without (right)",
            lambda fig: _draw_curves(fig, data, label, "acc", "median validation accuracy (%)", 100.0),
        ),
        Figure(
            "score",
            "Median Score (eq. 22) per epoch, with BN (left) and without (right)",
            lambda fig: _draw_curves(fig, data, label, "score", "median Score (eq. 22)", 1.0, log=True),
        ),
        Figure(
            "score_vs_speed",
            "Each run's mean Score against its mean validation accuracy over the epochs",
            lambda fig: _draw_score_vs_speed(fig, data, label),
            (6, 4.5),
        ),
    ]


def _recipe(runs: StudyRuns) -> str:
    c = runs.base
    return (
        f"Every run: batch {c.data.batch_size}, linear warm-up from "
        f"{c.schedule.warmup_start_factor:g} x lr over the first {c.schedule.warmup_epochs:g} epoch, "
        "gradient clipping to a total 2-norm of "
        f"{c.optim.clip_grad_norm:g}, dropout {c.model.kwargs.get('dropout', 0.5):g} after the two hidden "
        f"fully connected layers, the top {c.model.kwargs.get('plain_top', 3)} activations unnormalized "
        "(ANAct's rule) and no affine transform in a BN right before a normalized activation. AdamW rows: "
        f"lr {c.optim.lr:g}, weight decay {c.optim.weight_decay:g}, constant after warm-up. SELU and GPN "
        "rows: the paper's SGD recipe (lr 0.01, momentum 0.9, no weight decay), the rate times "
        f"{c.schedule.gamma:g} every {c.schedule.step_size} epochs (the paper: every 60 of 200). The "
        "activation and its initialisation change together, as in the paper."
    )


def _table_ours(data: dict[str, _Variant], label: Any, probe_samples: int | None) -> str:
    rows, coverages = [], set()
    for v, d in data.items():
        mean, median = stats.mean_ci(d.best), stats.median_ci(d.best)
        coverages.add(round(median.coverage, 4))
        rows.append(
            [
                label(v),
                "yes" if d.bn else "no",
                d.init,
                d.optim,
                f"{fmt(median.estimate, 2, 100)} [{fmt(median.low, 2, 100)}, {fmt(median.high, 2, 100)}]",
                f"{fmt(mean.estimate, 2, 100)} [{fmt(mean.low, 2, 100)}, {fmt(mean.high, 2, 100)}]",
                fmt(nan_median(d.last), 2, 100),
                fmt(nan_median(d.best5), 2, 100),
                fmt(float(np.median(d.auc)), 2, 100),
                fmt(nan_median(d.run_score), 3),
                f"{d.n}" + (f" ({d.diverged} diverged)" if d.diverged else ""),
            ]
        )
    header = ["method", "BN", "init", "optimiser", "best top-1, median [CI]", "mean [95 % CI]",
              "last epoch (median)", "best top-5 (median)", "mean over epochs (median)", "Score (median)",
              "runs"]  # fmt: skip
    cover = ", ".join(f"{c:.1%}" for c in sorted(coverages))
    return (
        "Top-1 and top-5 validation accuracy (%) on the test split after each epoch; a run's best is its "
        "maximum over the epochs (the paper reports the accuracy of each run without saying at which epoch). "
        "The mean over epochs is the area under the accuracy curve divided by its length, larger for a run "
        "that converges earlier. A run's Score is the mean over its epochs of eq. 22, measured after each "
        f"epoch in eval mode on {f'the first {probe_samples}' if probe_samples else 'all'} test images.\n\n"
        + markdown_table(header, rows, "lllllrrrrrr")
        + "\n\nMedian: the order-statistic interval [x_(k), x_(n+1-k)], distribution-free, of exact "
        f"coverage {cover} here (with n <= 5 runs it is [min, max]). Mean: Student's t interval."
    )


def _table_paper2(label: Any) -> str:
    rows = [[label(v), f"{t1:.2f}", f"{t5:.2f}"] for v, (t1, t5) in PAPER_TABLE2.items()]
    return "As printed (%):\n\n" + markdown_table(["method", "top-1", "top-5"], rows)


def _table_paper3(label: Any) -> str:
    rows = [
        [label(v), *(f"{x:.2f}" for x in t1), f"{np.median(t1):.2f}", *(f"{x:.2f}" for x in t5)]
        for v, (t1, t5) in PAPER_TABLE3.items()
    ]
    header = ["method", "top-1 run 1", "run 2", "run 3", "top-1 median", "top-5 run 1", "run 2", "run 3"]
    return (
        "As printed (%; the median column is ours, from the printed runs). The paper prints the fifth row "
        "as a second 'NReLU'; its text says it is the normalized LeakyReLU, compared with LReLU-GPN.\n\n"
        + markdown_table(header, rows)
    )


# -- figures --------------------------------------------------------------------------------------


def _style(variant: str, label: Any) -> dict[str, Any]:
    colors = {
        "relu": "#1f77b4", "nrelu": "#1f77b4", "swish": "#d62728", "nswish": "#d62728",
        "selu_nobn": "#9467bd", "relu_gpn_nobn": "#1f77b4", "nrelu_nobn": "#1f77b4",
        "lrelu_gpn_nobn": "#bcbd22", "nlrelu_nobn": "#bcbd22", "nswish_nobn": "#d62728",
        "tanh": "#7f7f7f", "leaky_relu": "#bcbd22", "elu": "#2ca02c",
    }  # fmt: skip
    normalized = variant in NORMALIZED
    return {
        "color": colors.get(variant, "black"),
        "linestyle": "-" if normalized else "--",
        "linewidth": 2.2 if normalized else 1.4,
        "label": label(variant),
    }


def _draw_curves(
    fig: MplFigure,
    data: dict[str, _Variant],
    label: Any,
    attr: str,
    ylabel: str,
    factor: float,
    log: bool = False,
) -> None:
    axes = fig.subplots(1, 2, sharey=True)
    for ax, bn, title in ((axes[0], True, "with BN"), (axes[1], False, "without BN")):
        for v, d in data.items():
            if d.bn == bn:
                values = getattr(d, attr)
                ax.plot(np.arange(1, values.shape[1] + 1), factor * median_curve(values), **_style(v, label))
        ax.set(xlabel="epoch", title=f"VGG19 {title}")
        if log:
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[0].set_ylabel(ylabel)


def _draw_score_vs_speed(fig: MplFigure, data: dict[str, _Variant], label: Any) -> None:
    ax = fig.add_subplot()
    for v, d in data.items():
        style = _style(v, label)
        ax.scatter(d.run_score, 100 * d.auc, marker="o" if d.bn else "^", edgecolors=style["color"],
                   facecolors=style["color"] if v in NORMALIZED else "none", label=style["label"],
                   s=30)  # fmt: skip
    ax.set(xlabel="mean Score of the run (eq. 22)", ylabel="mean validation accuracy over the epochs (%)")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.legend(fontsize=7, ncols=2)
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(PRESET.name, Analysis(build=_build))
