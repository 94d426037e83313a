"""ANAct's LeNet5 study (section 3.1, Table 1, Figures 3-4): nine activations, convergence and failures.

The runs are in ``anact_lenet5.yaml``. This module holds the paper's printed numbers (reference data
shown beside ours, never used as expectations), the claims and the analysis:

- Table 1: mean and median of each run's best validation accuracy, with 95 % intervals, and the number
  of runs that had not reached the threshold by each column's epoch.
- Figure 3: median validation accuracy and median Score (eq. 22) per epoch; Figure 4: median
  ``sum_i |E W_i|`` per epoch.
- Verdicts: normalized against base (NReLU/ReLU, NSwish/Swish) for speed (epochs to the threshold,
  exact rank-sum test), failures (runs never reaching it, Fisher's exact test) and weight means (last
  epoch, rank-sum test); the Score against convergence speed across runs (Spearman).
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
from normact.models import PAPER_INIT
from normact.train import with_overrides

LABELS = {
    "tanh": "Tanh",
    "leaky_relu": "LReLU",
    "elu": "ELU",
    "selu": "SELU",
    "relu": "ReLU",
    "relu_gpn": "ReLU-GPN",
    "nrelu": "NReLU",
    "swish": "Swish",
    "nswish": "NSwish",
}
PAIRS = (("nrelu", "relu"), ("nswish", "swish"))  # (normalized, its base)

# The paper's Table 1 (MNIST, 25 runs, 50 epochs): mean and median best validation accuracy (%) and
# the number of runs under 98 % until the 5th, 10th, 15th, 30th and 50th epoch.
PAPER_THRESHOLD = 0.98
PAPER_COLUMNS = (5, 10, 15, 30, 50)
PAPER_RUNS = 25
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

CLAIM_FASTER = "{n} converges faster than {b}"
CLAIM_FAILS = "{n} fails less often than {b}"
CLAIM_SCORE = "The Score (eq. 22) is inversely related to the speed of convergence"
CLAIM_WEIGHTS = "{n} keeps the weight means closer to zero than {b} (Fig. 4)"
CLAIMS = (
    *(CLAIM_FASTER.format(n=LABELS[n], b=LABELS[b]) for n, b in PAIRS),
    *(CLAIM_FAILS.format(n=LABELS[n], b=LABELS[b]) for n, b in PAIRS),
    CLAIM_SCORE,
    *(CLAIM_WEIGHTS.format(n=LABELS[n], b=LABELS[b]) for n, b in PAIRS),
)


def _label(variant: str) -> str:
    return LABELS.get(variant, variant)


def _last(row: np.ndarray) -> float:
    """The last value of a run that is not NaN (a diverged run stops early)."""
    present = _present(row)
    return float(present[-1]) if present.size else math.nan


def _present(values: np.ndarray) -> np.ndarray:
    """The values that are not NaN."""
    return values[~np.isnan(values)]


def _median(values: np.ndarray) -> float:
    """Median of the values that are not NaN; NaN when there is none."""
    present = _present(np.asarray(values, dtype=np.float64))
    return float(np.median(present)) if present.size else math.nan


def _median_curve(values: np.ndarray) -> np.ndarray:
    """Median over runs (axis 0) ignoring NaN; NaN where no run has a value."""
    out = np.full(values.shape[1], np.nan)
    has = (~np.isnan(values)).any(axis=0)
    out[has] = np.nanmedian(values[:, has], axis=0)
    return out


class _Variant:
    """The numbers of one activation's runs that the tables, figures and tests use."""

    def __init__(self, runs: StudyRuns, variant: str, threshold: float) -> None:
        self.name = variant
        self.seeds = [r.seed for r in runs.runs[variant]]
        self.acc = runs.series(variant, "test_acc")  # (runs, epochs)
        # a run that diverged in its first epoch has no accuracy: it counts as never reaching the
        # threshold but has no best accuracy
        self.best = np.array([np.nanmax(row) if (~np.isnan(row)).any() else np.nan for row in self.acc])
        self.first = np.array([stats.first_epoch_reaching(row, threshold) for row in self.acc])
        self.score = runs.series(variant, "score")
        with np.errstate(invalid="ignore"):
            self.run_score = np.array(
                [np.nanmean(row) if (~np.isnan(row)).any() else np.nan for row in self.score]
            )
        means = runs.family(variant, "weight_mean/")
        self.weights = sum(np.abs(m) for m in means.values()) if means else np.full_like(self.acc, np.nan)
        self.last_weights = np.array([_last(row) for row in self.weights])
        self.diverged = sum(r.status == "diverged" for r in runs.runs[variant])
        model = with_overrides(runs.base, runs.preset.variants[variant]).model
        self.init = model.init or PAPER_INIT.get(model.act or "", "the model's default")

    @property
    def n(self) -> int:
        return len(self.seeds)


def analyze(runs: StudyRuns) -> Report:
    """Table 1, Figures 3-4 and the verdicts from the runs of one scale."""
    settings: dict[str, Any] = runs.scale.analysis
    threshold, columns = float(settings["threshold"]), [int(c) for c in settings["columns"]]
    if max(columns) > runs.epochs:
        raise ValueError(f"analysis column {max(columns)} is past the last epoch ({runs.epochs})")
    data = {v: _Variant(runs, v, threshold) for v in runs.complete_variants()}
    pct = f"{threshold * 100:g} %"
    report = Report.for_runs(runs, _summary(runs, data))
    report.verdicts = _verdicts(data, threshold, columns, runs.epochs)
    report.sections = [
        Section(f"Table 1, ours ({runs.scale.name} scale, threshold {pct})", _table_ours(data, pct, columns)),
        Section("Table 1, the paper (MNIST, 25 runs, threshold 98 %)", _table_paper()),
        Section(
            "Score, speed and weight means per activation",
            _table_score(data, pct, runs.base.train.probe_samples),
        ),
        Section("Settings", settings_table(runs) + "\n\n" + runs.scale.notes),
    ]
    report.figures = [
        Figure(
            "figure3",
            "Figure 3: median validation accuracy (left) and median Score, eq. 22 (right), per epoch over "
            f"{_runs_text(data)}",
            lambda fig: _draw_figure3(fig, data, threshold),
        ),
        Figure(
            "figure4",
            "Figure 4: median sum_i |E W_i| per epoch",
            lambda fig: _draw_figure4(fig, data),
            (6, 4),
        ),
        Figure(
            "score_vs_speed",
            f"Each run's mean Score against the epoch at which it first reached {pct}",
            lambda fig: _draw_score_vs_speed(fig, data, runs.epochs, pct),
            (6, 4.5),
        ),
    ]
    return report


def _runs_text(data: dict[str, _Variant]) -> str:
    ns = sorted({d.n for d in data.values()})
    return f"{ns[0]} runs" if len(ns) == 1 else f"{ns[0]}-{ns[-1]} runs"


def _summary(runs: StudyRuns, data: dict[str, _Variant]) -> str:
    parts = [runs.count_text("activations")]
    diverged = {_label(v): d.diverged for v, d in data.items() if d.diverged}
    if diverged:
        parts.append("Diverged (counted as never reaching the threshold after divergence): "
                     + ", ".join(f"{k} {n}" for k, n in diverged.items()) + ".")  # fmt: skip
    parts.append(runs.status_text(_label))
    return " ".join(parts)


def _table_ours(data: dict[str, _Variant], pct: str, columns: list[int]) -> str:
    rows, coverages = [], set()
    for v, d in data.items():
        best = d.best[~np.isnan(d.best)]
        if best.size == 0:
            rows.append([_label(v), "–", "–", *(stats.n_under_until(d.first, c) for c in columns), d.n])
            continue
        mean, median = stats.mean_ci(best), stats.median_ci(best)
        coverages.add(round(median.coverage, 4))
        rows.append(
            [
                _label(v),
                f"{fmt(mean.estimate, 2, 100)} [{fmt(mean.low, 2, 100)}, {fmt(mean.high, 2, 100)}]",
                f"{fmt(median.estimate, 2, 100)} [{fmt(median.low, 2, 100)}, {fmt(median.high, 2, 100)}]",
                *(stats.n_under_until(d.first, c) for c in columns),
                d.n,
            ]
        )
    header = ["method", "mean [95 % CI]", "median [CI]", *(f"{_ordinal(c)}" for c in columns), "runs"]
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


def _table_paper() -> str:
    rows = [[_label(v), f"{m:.2f}", f"{md:.2f}", *counts] for v, (m, md, counts) in PAPER_TABLE1.items()]
    header = ["method", "mean", "median", *(_ordinal(c) for c in PAPER_COLUMNS)]
    return (
        "As printed (best validation accuracy in %, runs under 98 % until the i-th epoch, 25 runs each):\n\n"
        + markdown_table(header, rows)
    )


def _table_score(data: dict[str, _Variant], pct: str, probe_samples: int | None) -> str:
    rows = []
    for v, d in data.items():
        reached = int(np.isfinite(d.first).sum())
        rows.append(
            [
                _label(v),
                fmt(_median(d.run_score), 3),
                fmt(_median(d.first), 1),
                f"{reached}/{d.n}",
                fmt(_median(d.last_weights), 4),
            ]
        )
    header = [
        "method",
        "Score (median of run means)",
        f"epochs to {pct} (median)",
        "reached",
        "sum |E W| at the end",
    ]
    return (
        "A run's Score is the mean over its epochs of eq. 22, measured after each epoch (eval mode) on "
        f"{f'up to {probe_samples}' if probe_samples else 'all'} test images. Epochs to the threshold: ∞ "
        "for runs that never reached it.\n\n" + markdown_table(header, rows)
    )


def _verdicts(data: dict[str, _Variant], threshold: float, columns: list[int], epochs: int) -> list[Verdict]:
    pct = f"{threshold * 100:g} %"
    out = []
    pairs = [(data[n], data[b]) for n, b in PAIRS if n in data and b in data]
    for norm, base in pairs:
        n, b = _label(norm.name), _label(base.name)
        p_for = stats.rank_sum_test(norm.first, base.first, "less")
        p_against = stats.rank_sum_test(norm.first, base.first, "greater")
        evidence = (
            f"epochs to reach {pct}: {n} {_list(norm.first)}, {b} {_list(base.first)} (∞: never in "
            f"{epochs} epochs); exact rank-sum test with midranks for ties"
        )
        needed = stats.n_for_rank_sum(stats.probability_of_superiority(norm.first, base.first))
        out.append(decide(CLAIM_FASTER.format(n=n, b=b), p_for, p_against, evidence, needed))
    for norm, base in pairs:
        n, b = _label(norm.name), _label(base.name)
        k_n, k_b = stats.n_under_until(norm.first, epochs), stats.n_under_until(base.first, epochs)
        p_for = stats.fisher_exact(k_n, norm.n, k_b, base.n, "less")
        p_against = stats.fisher_exact(k_n, norm.n, k_b, base.n, "greater")
        under = [(c, stats.n_under_until(norm.first, c), stats.n_under_until(base.first, c)) for c in columns]
        per_column = "; ".join(
            f"epoch {c}: {a} vs {b_} (p = {stats.fisher_exact(a, norm.n, b_, base.n):.3g})"
            for c, a, b_ in under
        )
        evidence = (
            f"runs never reaching {pct} in {epochs} epochs: {n} {k_n}/{norm.n}, {b} {k_b}/{base.n} "
            f"(one-sided Fisher's exact test); under {pct} by column, {n} vs {b}: {per_column}"
        )
        needed = stats.n_for_fisher(k_n / norm.n, k_b / base.n)
        out.append(decide(CLAIM_FAILS.format(n=n, b=b), p_for, p_against, evidence, needed))
    score = np.concatenate([d.run_score for d in data.values()])
    first = np.concatenate([d.first for d in data.values()])
    keep = ~np.isnan(score)
    if keep.sum() >= 3:
        rho, p_greater, p_less = stats.spearman(score[keep], first[keep])
        medians = ", ".join(
            f"{_label(v)} {fmt(_median(d.run_score), 2)} / {fmt(_median(d.first), 1)}"
            for v, d in data.items()
        )
        evidence = (
            f"Spearman's rho = {rho:.3f} between each run's mean Score and its epochs to {pct} over "
            f"{int(keep.sum())} runs (a higher Score going with slower convergence means rho > 0); "
            f"median Score / epochs per activation: {medians}"
        )
        out.append(decide(CLAIM_SCORE, p_greater, p_less, evidence, stats.n_for_correlation(rho), "runs"))
    for norm, base in pairs:
        n, b = _label(norm.name), _label(base.name)
        w_n, w_b = _present(norm.last_weights), _present(base.last_weights)
        if not (w_n.size and w_b.size):
            continue
        p_for = stats.rank_sum_test(w_n, w_b, "less")
        p_against = stats.rank_sum_test(w_n, w_b, "greater")
        evidence = (
            f"sum_i |E W_i| after the last epoch: {n} median {np.median(w_n):.4f}, {b} median "
            f"{np.median(w_b):.4f} (after the first: {fmt(_median(norm.weights[:, 0]), 4)} and "
            f"{fmt(_median(base.weights[:, 0]), 4)}; initialisation {n} {norm.init}, {b} {base.init}: "
            "larger initial weights alone give larger means); exact rank-sum test"
        )
        needed = stats.n_for_rank_sum(stats.probability_of_superiority(w_n, w_b))
        out.append(decide(CLAIM_WEIGHTS.format(n=n, b=b), p_for, p_against, evidence, needed))
    return out


def _list(values: np.ndarray) -> str:
    return "[" + ", ".join("∞" if math.isinf(v) else f"{v:g}" for v in values) + "]"


# -- figures --------------------------------------------------------------------------------------


def _style(variant: str) -> dict[str, Any]:
    colors = {
        "tanh": "#7f7f7f", "leaky_relu": "#bcbd22", "elu": "#17becf", "selu": "#9467bd", "relu": "#1f77b4",
        "relu_gpn": "#8c564b", "nrelu": "#1f77b4", "swish": "#d62728", "nswish": "#d62728",
    }  # fmt: skip
    normalized = variant in ("nrelu", "nswish")
    return {
        "color": colors.get(variant, "black"),
        "linestyle": "-" if normalized else ("--" if variant in ("relu", "swish") else ":"),
        "linewidth": 2.2 if normalized else 1.4,
        "label": _label(variant),
    }


def _draw_figure3(fig: MplFigure, data: dict[str, _Variant], threshold: float) -> None:
    left, right = fig.subplots(1, 2)
    for v, d in data.items():
        epochs = np.arange(1, d.acc.shape[1] + 1)
        left.plot(epochs, 100 * _median_curve(d.acc), **_style(v))
        right.plot(epochs, _median_curve(d.score), **_style(v))
    left.axhline(100 * threshold, color="black", linewidth=0.8, alpha=0.5)
    left.set(xlabel="epoch", ylabel="median validation accuracy (%)", title="validation accuracy")
    right.set(xlabel="epoch", ylabel="median Score (eq. 22)", title="Score", yscale="log")
    left.legend(fontsize=8, ncols=2)
    plain_log_ticks(right.yaxis)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)


def _draw_figure4(fig: MplFigure, data: dict[str, _Variant]) -> None:
    ax = fig.add_subplot()
    for v, d in data.items():
        ax.plot(np.arange(1, d.weights.shape[1] + 1), _median_curve(d.weights), **_style(v))
    ax.set(xlabel="epoch", ylabel="median sum_i |E W_i|", title="weight means")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, ncols=2)
    ax.grid(alpha=0.3)


def _draw_score_vs_speed(fig: MplFigure, data: dict[str, _Variant], epochs: int, pct: str) -> None:
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # vertical jitter only, so that equal epochs stay readable
    for v, d in data.items():
        y = np.where(np.isfinite(d.first), d.first, epochs + 1) + rng.uniform(-0.15, 0.15, d.n)
        style = _style(v)
        ax.scatter(d.run_score, y, color=style["color"], marker="o" if v in ("nrelu", "nswish") else "x",
                   label=style["label"], s=28)  # fmt: skip
    ax.set_yticks(range(1, epochs + 2), [*map(str, range(1, epochs + 1)), "never"], fontsize=7)
    ax.set(xlabel="mean Score of the run (eq. 22)", ylabel=f"first epoch at {pct}", xscale="log")
    plain_log_ticks(ax.xaxis)
    ax.legend(fontsize=7, ncols=3)
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml"), CLAIMS, analyze))
