"""ANAct's LeNet5 study (section 3.1, Table 1, Figures 3-4): nine activations, convergence and failures.

The runs and the claims are in ``anact_lenet5.yaml``. This module adds the paper's printed numbers
(shown beside ours, never used as expectations) and the paper-shaped parts of the report:

- Table 1: mean and median of each run's best validation accuracy, with 95 % intervals, and the number
  of runs that had not reached the threshold by each column's epoch;
- Figure 3: median validation accuracy and median Score (eq. 22) per epoch; Figure 4: median
  ``sum_i |E W_i|`` per epoch; each run's Score against its epochs to the threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from normact.experiments import stats
from normact.experiments.analysis import Analysis, curves_figure, register_analysis
from normact.experiments.judge import measure
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table, plain_log_ticks
from normact.experiments.results import StudyRuns
from normact.models import PAPER_INIT
from normact.train import with_overrides

# The paper's Table 1 (MNIST, 25 runs, 50 epochs): mean and median best validation accuracy (%) and
# the number of runs under 98 % until the 5th, 10th, 15th, 30th and 50th epoch.
PAPER_COLUMNS = (5, 10, 15, 30, 50)
PAPER_TABLE1: dict[str, tuple[float, float, tuple[int, ...]]] = {
    "tanh": (98.83, 98.83, (25, 9, 0, 0, 0)),
    "leaky_relu": (98.87, 98.87, (25, 4, 0, 0, 0)),
    "elu": (98.90, 98.90, (23, 0, 0, 0, 0)),
    "selu": (98.90, 98.91, (9, 0, 0, 0, 0)),
    "relu": (94.42, 98.92, (19, 15, 14, 11, 11)),
    "relu_gpn": (87.50, 98.91, (14, 7, 6, 5, 5)),
    "nrelu": (98.95, 98.96, (0, 0, 0, 0, 0)),
    "swish": (98.86, 98.85, (25, 16, 0, 0, 0)),
    "nswish": (98.90, 98.90, (1, 0, 0, 0, 0)),
}


def _build(runs: StudyRuns, report: Report) -> None:
    settings: dict[str, Any] = runs.scale.analysis
    threshold, columns = float(settings["threshold"]), [int(c) for c in settings["columns"]]
    if max(columns) > runs.epochs:
        raise ValueError(f"analysis column {max(columns)} is past the last epoch ({runs.epochs})")
    pct = f"{threshold * 100:g} %"
    m = runs.preset.metrics
    first = {v: measure(runs, m["epochs_to"], v) for v in runs.complete_variants()}
    best = {v: measure(runs, m["best_acc"], v) for v in first}
    inits = []
    for v in first:
        model = with_overrides(runs.base, runs.preset.variants_of(runs.scale.name)[v]).model
        inits.append(f"{runs.preset.label(v)} {model.init or PAPER_INIT.get(model.act or '', 'default')}")
    report.sections += [
        Section(f"Table 1, ours ({runs.scale.name} scale, threshold {pct})",
                _table_ours(runs, best, first, pct, columns)),
        Section("Table 1, the paper (MNIST, 25 runs, threshold 98 %)", _table_paper(runs)),
        Section("Initialisations", "Each activation has the initialisation the paper gives it: "
                + ", ".join(inits) + "."),
    ]  # fmt: skip
    style = _style(runs)
    report.figures += [
        curves_figure(
            runs, "figure3",
            "Figure 3: median validation accuracy (left) and median Score, eq. 22 (right), per epoch",
            [("best_acc", "median validation accuracy (%)"), ("score", "median Score (eq. 22)")],
            style, ["score"],
        ),
        curves_figure(runs, "figure4", "Figure 4: median sum_i |E W_i| per epoch",
                      [("weights", "median sum_i |E W_i|")], style),
        Figure(
            "score_vs_speed",
            f"Each run's mean Score against the epoch at which it first reached {pct}",
            lambda fig: _draw_score_vs_speed(fig, runs, first, pct),
            (6, 4.5),
        ),
    ]  # fmt: skip


def _table_ours(
    runs: StudyRuns, best: dict[str, np.ndarray], first: dict[str, np.ndarray], pct: str, columns: list[int]
) -> str:
    rows, coverages = [], set()
    for v, b in best.items():
        b = b[~np.isnan(b)]
        under = [stats.n_under_until(first[v], c) for c in columns]
        if b.size == 0:
            rows.append([runs.preset.label(v), "–", "–", *under, first[v].size])
            continue
        mean, median = stats.mean_ci(b), stats.median_ci(b)
        coverages.add(round(median.coverage, 4))
        rows.append([
            runs.preset.label(v),
            f"{fmt(mean.estimate, 2, 100)} [{fmt(mean.low, 2, 100)}, {fmt(mean.high, 2, 100)}]",
            f"{fmt(median.estimate, 2, 100)} [{fmt(median.low, 2, 100)}, {fmt(median.high, 2, 100)}]",
            *under,
            first[v].size,
        ])  # fmt: skip
    header = ["method", "mean [95 % CI]", "median [CI]", *(_ordinal(c) for c in columns), "runs"]
    cover = ", ".join(f"{c:.1%}" for c in sorted(coverages))
    return (
        f"Best validation accuracy (%) of each run, and the number of runs under {pct} validation accuracy "
        "until the i-th epoch (never reaching it counts at every column; a run that diverged in its first "
        "epoch has no accuracy and counts only there).\n\n"
        + markdown_table(header, rows)
        + "\n\nMean: Student's t interval. Median: the order-statistic interval [x_(k), x_(n+1-k)], "
        f"distribution-free, of exact coverage {cover} here (with n <= 5 runs none reaches 95 %: even "
        "[min, max] covers only 1 - 2^(1-n))."
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _table_paper(runs: StudyRuns) -> str:
    rows = [
        [runs.preset.label(v), f"{m:.2f}", f"{md:.2f}", *counts]
        for v, (m, md, counts) in PAPER_TABLE1.items()
    ]
    header = ["method", "mean", "median", *(_ordinal(c) for c in PAPER_COLUMNS)]
    return (
        "As printed (best validation accuracy in %, runs under 98 % until the i-th epoch, 25 runs each):\n\n"
        + markdown_table(header, rows)
    )


COLORS = {
    "tanh": "#7f7f7f", "leaky_relu": "#bcbd22", "elu": "#17becf", "selu": "#9467bd", "relu": "#1f77b4",
    "relu_gpn": "#8c564b", "nrelu": "#1f77b4", "swish": "#d62728", "nswish": "#d62728",
}  # fmt: skip
NORMALIZED = ("nrelu", "nswish")


def _style(runs: StudyRuns) -> Any:
    def style(variant: str) -> dict[str, Any]:
        normalized = variant in NORMALIZED
        return {
            "color": COLORS.get(variant, "black"),
            "linestyle": "-" if normalized else ("--" if variant in ("relu", "swish") else ":"),
            "linewidth": 2.2 if normalized else 1.4,
            "label": runs.preset.label(variant),
        }

    return style


def _draw_score_vs_speed(fig: MplFigure, runs: StudyRuns, first: dict[str, np.ndarray], pct: str) -> None:
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # vertical jitter only, so that equal epochs stay readable
    epochs = runs.epochs
    for v, f in first.items():
        score = measure(runs, runs.preset.metrics["score"], v)
        y = np.where(np.isfinite(f), f, epochs + 1) + rng.uniform(-0.15, 0.15, f.size)
        ax.scatter(score, y, color=COLORS.get(v, "black"), marker="o" if v in NORMALIZED else "x",
                   label=runs.preset.label(v), s=28)  # fmt: skip
    ax.set_yticks(range(1, epochs + 2), [*map(str, range(1, epochs + 1)), "never"], fontsize=7)
    ax.set(xlabel="mean Score of the run (eq. 22)", ylabel=f"first epoch at {pct}", xscale="log")
    plain_log_ticks(ax.xaxis)
    ax.legend(fontsize=7, ncols=3)
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(
    PRESET.name, Analysis(build=_build, table=["best_acc", "epochs_to", "never", "score", "weights"])
)
