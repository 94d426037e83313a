"""ANAct's VGG19 study (section 3.2, Tables 2-3, Figure 5): normalized activations with and without BN.

The runs are in ``anact_vgg.yaml``. This module holds the paper's printed numbers (reference data
shown beside ours, never used as expectations), the claims and the analysis:

- Tables 2-3, ours: per activation the best top-1 accuracy of each run (median with its
  order-statistic interval, mean with Student's t interval), the last epoch's accuracy, the mean
  accuracy over the epochs (the area under the curve: a run that converges earlier has a larger one)
  and the median Score (eq. 22).
- Figure 5: median validation accuracy per epoch, with BN and without; the Score per epoch; each run's
  mean Score against its mean accuracy over the epochs.
- Verdicts: each normalized activation against the activation the paper compares it with (exact
  rank-sum test on the runs' best accuracies), and the Score against the speed of convergence across
  runs (Spearman).

The paper's Table 3 prints "NReLU" twice; its text says the second one is the normalized LeakyReLU
(compared with LReLU-GPN), so we call that row NLReLU.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from normact.experiments import stats
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import (
    Figure,
    Report,
    Section,
    fmt,
    markdown_table,
    plain_log_ticks,
    settings_table,
)
from normact.experiments.results import StudyRuns
from normact.experiments.verdict import Verdict, decide
from normact.train import with_overrides

LABELS = {
    "relu": "ReLU",
    "nrelu": "NReLU",
    "swish": "Swish",
    "nswish": "NSwish",
    "selu_nobn": "SELU",
    "relu_gpn_nobn": "ReLU-GPN",
    "nrelu_nobn": "NReLU",
    "lrelu_gpn_nobn": "LReLU-GPN",
    "nlrelu_nobn": "NLReLU",
    "nswish_nobn": "NSwish",
    "tanh": "Tanh",
    "leaky_relu": "LReLU",
    "elu": "ELU",
}
NORMALIZED = ("nrelu", "nswish", "nrelu_nobn", "nlrelu_nobn", "nswish_nobn")

# (normalized, the activation the paper compares it with, table); with BN in Table 2, without in Table 3
PAIRS = (
    ("nrelu", "relu", "Table 2"),
    ("nswish", "swish", "Table 2"),
    ("nrelu_nobn", "relu_gpn_nobn", "Table 3"),
    ("nlrelu_nobn", "lrelu_gpn_nobn", "Table 3"),
    ("nrelu_nobn", "selu_nobn", "Table 3"),
)

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

CLAIM_BETTER = "{setting}, {n} reaches a higher top-1 accuracy than {b} ({table})"
CLAIM_SCORE = (
    "The Score (eq. 22) is inversely related to the speed of convergence (section 3.1, here on VGG19)"
)


def _setting(variant: str) -> str:
    return "Without BN" if variant.endswith("_nobn") else "With BN"


CLAIMS = (
    *(CLAIM_BETTER.format(setting=_setting(n), n=LABELS[n], b=LABELS[b], table=t) for n, b, t in PAIRS),
    CLAIM_SCORE,
)


def _label(variant: str) -> str:
    return LABELS.get(variant, variant)


def _nanmedian(values: np.ndarray) -> float:
    present = values[~np.isnan(values)]
    return float(np.median(present)) if present.size else math.nan


def _median_curve(values: np.ndarray) -> np.ndarray:
    """Median over runs (axis 0) ignoring NaN; NaN where no run has a value."""
    out = np.full(values.shape[1], np.nan)
    has = (~np.isnan(values)).any(axis=0)
    out[has] = np.nanmedian(values[:, has], axis=0)
    return out


def _row_stat(rows: np.ndarray, reduce: Any, empty: float = math.nan) -> np.ndarray:
    """``reduce`` of each run's values that are not NaN; ``empty`` for a run without any."""
    return np.array([reduce(r[~np.isnan(r)]) if (~np.isnan(r)).any() else empty for r in rows])


class _Variant:
    """The numbers of one activation's runs that the tables, figures and verdicts use."""

    def __init__(self, runs: StudyRuns, variant: str) -> None:
        self.name = variant
        self.n = len(runs.runs[variant])
        self.acc = runs.series(variant, "test_acc")  # (runs, epochs)
        # a run without any accuracy (diverged in its first epoch) ranks below every other run
        self.best = _row_stat(self.acc, np.max, 0.0)
        self.last = _row_stat(self.acc, lambda r: r[-1])
        # the mean accuracy over all epochs; epochs after a divergence count as 0, so a diverged run is slow
        self.auc = np.nan_to_num(self.acc, nan=0.0).mean(axis=1)
        self.score = runs.series(variant, "score")
        with np.errstate(invalid="ignore"):
            self.run_score = _row_stat(self.score, np.mean)
        self.diverged = sum(r.status == "diverged" for r in runs.runs[variant])
        cfg = with_overrides(runs.base, runs.preset.variants[variant])
        self.bn = cfg.model.kwargs.get("block_order", "convention") != "none"
        self.init = cfg.model.init or "the model's default"
        self.optim = f"{cfg.optim.name} {cfg.optim.lr:g}" + (
            f", x{cfg.schedule.gamma:g} every {cfg.schedule.step_size} epochs"
            if cfg.schedule.name == "step"
            else ""
        )


def analyze(runs: StudyRuns) -> Report:
    """Tables 2-3, Figure 5 and the verdicts from the runs of one scale."""
    data = {v: _Variant(runs, v) for v in runs.complete_variants()}
    report = Report.for_runs(runs, _summary(runs, data))
    report.verdicts = _verdicts(data)
    report.sections = [
        Section(
            f"Tables 2-3, ours ({runs.scale.name} scale)", _table_ours(data, runs.base.train.probe_samples)
        ),
        Section("Table 2, the paper (VGG19 with BN, CIFAR-100, median of 3 runs)", _table_paper2()),
        Section("Table 3, the paper (VGG19 without BN, CIFAR-100, 3 runs each)", _table_paper3()),
        Section("Settings", settings_table(runs) + "\n\n" + _recipe(runs) + "\n\n" + runs.scale.notes),
    ]
    report.figures = [
        Figure(
            "figure5",
            "Figure 5: median validation accuracy per epoch, VGG19 with BN (left) and without (right)",
            lambda fig: _draw_curves(fig, data, "acc", "median validation accuracy (%)", 100.0),
        ),
        Figure(
            "score",
            "Median Score (eq. 22) per epoch, with BN (left) and without (right)",
            lambda fig: _draw_curves(fig, data, "score", "median Score (eq. 22)", 1.0, log=True),
        ),
        Figure(
            "score_vs_speed",
            "Each run's mean Score against its mean validation accuracy over the epochs",
            lambda fig: _draw_score_vs_speed(fig, data),
            (6, 4.5),
        ),
    ]
    return report


def _summary(runs: StudyRuns, data: dict[str, _Variant]) -> str:
    parts = [runs.count_text("activations")]
    diverged = {_label(v) + ("" if d.bn else " (no BN)"): d.diverged for v, d in data.items() if d.diverged}
    if diverged:
        parts.append("Diverged (their best accuracy is the best before divergence; a run without any counts "
                     "as 0): " + ", ".join(f"{k} {n}" for k, n in diverged.items()) + ".")  # fmt: skip
    parts.append(runs.status_text())
    return " ".join(parts)


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


def _table_ours(data: dict[str, _Variant], probe_samples: int | None) -> str:
    rows, coverages = [], set()
    for v, d in data.items():
        mean, median = stats.mean_ci(d.best), stats.median_ci(d.best)
        coverages.add(round(median.coverage, 4))
        rows.append(
            [
                _label(v),
                "yes" if d.bn else "no",
                d.init,
                d.optim,
                f"{fmt(median.estimate, 2, 100)} [{fmt(median.low, 2, 100)}, {fmt(median.high, 2, 100)}]",
                f"{fmt(mean.estimate, 2, 100)} [{fmt(mean.low, 2, 100)}, {fmt(mean.high, 2, 100)}]",
                fmt(_nanmedian(d.last), 2, 100),
                fmt(float(np.median(d.auc)), 2, 100),
                fmt(_nanmedian(d.run_score), 3),
                f"{d.n}" + (f" ({d.diverged} diverged)" if d.diverged else ""),
            ]
        )
    header = ["method", "BN", "init", "optimiser", "best top-1, median [CI]", "mean [95 % CI]",
              "last epoch (median)", "mean over epochs (median)", "Score (median)", "runs"]  # fmt: skip
    cover = ", ".join(f"{c:.1%}" for c in sorted(coverages))
    return (
        "Top-1 validation accuracy (%) on the test split after each epoch; a run's best is its maximum over "
        "the epochs (the paper reports the accuracy of each run without saying at which epoch). The mean "
        "over epochs is the area under the accuracy curve divided by its length, larger for a run that "
        "converges earlier. A run's Score is the mean over its epochs of eq. 22, measured after each epoch "
        f"in eval mode on {f'the first {probe_samples}' if probe_samples else 'all'} test images.\n\n"
        + markdown_table(header, rows, "lllllrrrrr")
        + "\n\nMedian: the order-statistic interval [x_(k), x_(n+1-k)], distribution-free, of exact "
        f"coverage {cover} here (with n <= 5 runs it is [min, max]). Mean: Student's t interval."
    )


def _table_paper2() -> str:
    rows = [[_label(v), f"{t1:.2f}", f"{t5:.2f}"] for v, (t1, t5) in PAPER_TABLE2.items()]
    return "As printed (%):\n\n" + markdown_table(["method", "top-1", "top-5"], rows)


def _table_paper3() -> str:
    rows = [
        [_label(v), *(f"{x:.2f}" for x in t1), f"{np.median(t1):.2f}", *(f"{x:.2f}" for x in t5)]
        for v, (t1, t5) in PAPER_TABLE3.items()
    ]
    header = ["method", "top-1 run 1", "run 2", "run 3", "top-1 median", "top-5 run 1", "run 2", "run 3"]
    return (
        "As printed (%; the median column is ours, from the printed runs). The paper prints the fifth row "
        "as a second 'NReLU'; its text says it is the normalized LeakyReLU, compared with LReLU-GPN.\n\n"
        + markdown_table(header, rows)
    )


def _paper_top1(variant: str) -> float | None:
    if variant in PAPER_TABLE2:
        return PAPER_TABLE2[variant][0]
    if variant in PAPER_TABLE3:
        return float(np.median(PAPER_TABLE3[variant][0]))
    return None


def _verdicts(data: dict[str, _Variant]) -> list[Verdict]:
    out = []
    for norm_name, base_name, table in PAIRS:
        if norm_name not in data or base_name not in data:
            continue
        norm, base = data[norm_name], data[base_name]
        n, b = _label(norm_name), _label(base_name)
        p_for = stats.rank_sum_test(norm.best, base.best, "greater")
        p_against = stats.rank_sum_test(norm.best, base.best, "less")
        pn, pb = _paper_top1(norm_name), _paper_top1(base_name)
        evidence = (
            f"best top-1 of each run (%): {n} {_list(norm.best)}, {b} {_list(base.best)}; medians "
            f"{np.median(norm.best) * 100:.2f} vs {np.median(base.best) * 100:.2f} (the paper's medians on "
            f"CIFAR-100: {pn:.2f} vs {pb:.2f}); optimisers {norm.optim} vs {base.optim}; exact rank-sum test"
        )
        needed = stats.n_for_rank_sum(stats.probability_of_superiority(base.best, norm.best))
        claim = CLAIM_BETTER.format(setting=_setting(norm_name), n=n, b=b, table=table)
        out.append(decide(claim, p_for, p_against, evidence, needed))
    score = np.concatenate([d.run_score for d in data.values()])
    auc = np.concatenate([d.auc for d in data.values()])
    keep = ~np.isnan(score)
    if keep.sum() >= 3:
        rho, p_greater, p_less = stats.spearman(score[keep], auc[keep])
        medians = ", ".join(
            f"{_label(v)}{'' if d.bn else ' (no BN)'} {fmt(_nanmedian(d.run_score), 2)} / "
            f"{fmt(float(np.median(d.auc)), 1, 100)} %"
            for v, d in data.items()
        )
        evidence = (
            f"Spearman's rho = {rho:.3f} between each run's mean Score and its mean accuracy over the "
            f"epochs, over {int(keep.sum())} runs (a higher Score going with slower convergence means "
            "rho < 0); "
            f"median Score / mean accuracy per activation: {medians}"
        )
        out.append(decide(CLAIM_SCORE, p_less, p_greater, evidence, stats.n_for_correlation(rho), "runs"))
    return out


def _list(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{100 * v:.2f}" for v in values) + "]"


# -- figures --------------------------------------------------------------------------------------


def _style(variant: str) -> dict[str, Any]:
    colors = {
        "relu": "#1f77b4", "nrelu": "#1f77b4", "swish": "#d62728", "nswish": "#d62728",
        "selu_nobn": "#9467bd", "relu_gpn_nobn": "#1f77b4", "nrelu_nobn": "#1f77b4",
        "lrelu_gpn_nobn": "#bcbd22", "nlrelu_nobn": "#bcbd22", "nswish_nobn": "#d62728",
    }  # fmt: skip
    normalized = variant in NORMALIZED
    return {
        "color": colors.get(variant, "black"),
        "linestyle": "-" if normalized else "--",
        "linewidth": 2.2 if normalized else 1.4,
        "label": _label(variant),
    }


def _draw_curves(
    fig: MplFigure, data: dict[str, _Variant], attr: str, ylabel: str, factor: float, log: bool = False
) -> None:
    axes = fig.subplots(1, 2, sharey=True)
    for ax, bn, title in ((axes[0], True, "with BN"), (axes[1], False, "without BN")):
        for v, d in data.items():
            if d.bn == bn:
                values = getattr(d, attr)
                ax.plot(np.arange(1, values.shape[1] + 1), factor * _median_curve(values), **_style(v))
        ax.set(xlabel="epoch", title=f"VGG19 {title}")
        if log:
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[0].set_ylabel(ylabel)


def _draw_score_vs_speed(fig: MplFigure, data: dict[str, _Variant]) -> None:
    ax = fig.add_subplot()
    for v, d in data.items():
        style = _style(v)
        label = style["label"] + ("" if d.bn else " (no BN)")
        ax.scatter(d.run_score, 100 * d.auc, marker="o" if d.bn else "^", edgecolors=style["color"],
                   facecolors=style["color"] if v in NORMALIZED else "none", label=label, s=30)  # fmt: skip
    ax.set(xlabel="mean Score of the run (eq. 22)", ylabel="mean validation accuracy over the epochs (%)")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.legend(fontsize=7, ncols=2)
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml"), CLAIMS, analyze))
