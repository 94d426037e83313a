"""ANAct's ResNet50 study (section 3.3, Tables 4-5): eight activations on CIFAR-100 and Tiny ImageNet.

The runs are in ``anact_resnet50.yaml``; a scale's ``analysis.paper_table`` (4 or 5) says which of the
paper's tables its runs are set beside. This module holds those printed numbers (reference data,
never used as expectations), the claims and the analysis: per activation the best top-1 accuracy of
each run (median with its order-statistic interval, mean with Student's t interval), the last epoch's
accuracy and the median Score (eq. 22); a figure of the median accuracy per epoch; verdicts for
NReLU against ReLU and NSwish against Swish (exact rank-sum test on the runs' best accuracies).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from normact.experiments import stats
from normact.experiments.analysis import Analysis, curves_figure, per_run, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns

NORMALIZED = ("nrelu", "nswish")

# Table 4 (CIFAR-100): top-1 and top-5 accuracy (%) of each of 3 runs, ordered by top-1.
PAPER_TABLE4: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "tanh": ((61.47, 61.16, 61.25), (86.41, 85.93, 86.24)),
    "leaky_relu": ((71.13, 70.33, 70.01), (91.40, 90.63, 91.07)),
    "elu": ((72.10, 71.96, 71.82), (92.03, 91.89, 91.75)),
    "selu": ((69.05, 68.80, 68.37), (90.35, 90.42, 90.42)),
    "relu": ((70.23, 70.19, 69.90), (90.98, 91.02, 90.80)),
    "nrelu": ((71.63, 71.38, 70.99), (91.72, 91.51, 91.38)),
    "swish": ((71.71, 71.60, 71.16), (91.54, 91.51, 91.44)),
    "nswish": ((73.17, 72.83, 72.72), (92.15, 92.18, 92.25)),
}
# Table 5 (Tiny ImageNet): median top-1 and top-5 accuracy (%) of 3 runs.
PAPER_TABLE5: dict[str, tuple[float, float]] = {
    "tanh": (40.50, 66.88),
    "leaky_relu": (54.90, 78.20),
    "elu": (54.06, 77.67),
    "selu": (48.66, 74.18),
    "relu": (54.46, 77.77),
    "nrelu": (56.01, 78.99),
    "swish": (54.93, 78.39),
    "nswish": (56.55, 79.25),
}


def _paper_median(variant: str, table: int, k: int) -> float:
    """The paper's median top-``k`` accuracy (%, k = 1 or 5) of ``variant`` in Table ``table``."""
    col = 0 if k == 1 else 1
    if table == 4:
        return float(np.median(PAPER_TABLE4[variant][col]))
    return PAPER_TABLE5[variant][col]


def _build(runs: StudyRuns, report: Report) -> None:
    """Table 4 or 5 (``analysis.paper_table``) and the accuracy curves of one scale."""
    table = int(runs.scale.analysis.get("paper_table", 4))
    if table not in (4, 5):
        raise ValueError(f"analysis.paper_table must be 4 or 5, got {table}")
    acc = {v: runs.series(v, "test_acc") for v in runs.complete_variants()}
    best = {v: per_run(a, np.max, 0.0) for v, a in acc.items()}  # no accuracy at all ranks lowest
    score = {v: per_run(runs.series(v, "score"), np.mean) for v in acc}
    rows = []
    for v, a in acc.items():
        mean, median = stats.mean_ci(best[v]), stats.median_ci(best[v])
        last = per_run(a, lambda r: r[-1])
        best5 = per_run(runs.series(v, "test_acc5"), np.max, 0.0)
        rows.append([
            runs.preset.label(v),
            f"{fmt(median.estimate, 2, 100)} [{fmt(median.low, 2, 100)}, {fmt(median.high, 2, 100)}]",
            f"{fmt(mean.estimate, 2, 100)} [{fmt(mean.low, 2, 100)}, {fmt(mean.high, 2, 100)}]",
            _median(last, 2, 100), _median(best5, 2, 100), _median(score[v], 3),
            *(f"{_paper_median(v, table, k):.2f}" if v in PAPER_TABLE5 else "–" for k in (1, 5)),
            len(a),
        ])  # fmt: skip
    header = ["method", "best top-1, median [CI]", "mean [95 % CI]", "last epoch (median)",
              "best top-5 (median)", "Score (median)", f"paper, Table {table}: median top-1",
              "median top-5", "runs"]  # fmt: skip
    ours = (
        "Top-1 and top-5 validation accuracy (%) on the test split after each epoch; a run's best is its "
        "maximum over the epochs. A run's Score is the mean over its epochs of eq. 22 (eval mode, the first "
        f"{runs.base.train.probe_samples or 'all'} test images). Median interval: order statistics; mean: "
        "Student's t.\n\n" + markdown_table(header, rows)
    )
    report.sections += [
        Section(f"Table {table}, ours ({runs.scale.name} scale) beside the paper's medians", ours),
        Section(f"Table {table}, the paper", _paper_table(table, runs.preset.label)),
    ]
    report.figures.append(curves_figure(
        runs, "accuracy", "Median validation accuracy per epoch",
        [("best_acc", "median validation accuracy (%)")],
        lambda v: {"label": runs.preset.label(v), "linestyle": "-" if v in NORMALIZED else "--",
                   "linewidth": 2.2 if v in NORMALIZED else 1.2},
    ))  # fmt: skip


def _median(values: np.ndarray, digits: int, scale: float = 1.0) -> str:
    """The median of the runs' values that are not NaN, formatted; a dash when there is none."""
    return fmt(float(np.nanmedian(values)) if (~np.isnan(values)).any() else math.nan, digits, scale)


def _paper_table(table: int, label: Any) -> str:
    if table == 4:
        rows = [[label(v), *(f"{x:.2f}" for x in t1), *(f"{x:.2f}" for x in t5)] for v, (t1, t5) in
                PAPER_TABLE4.items()]  # fmt: skip
        header = ["method", "top-1 run 1", "run 2", "run 3", "top-5 run 1", "run 2", "run 3"]
        return "As printed (CIFAR-100, 3 runs, %):\n\n" + markdown_table(header, rows)
    rows = [[label(v), f"{t1:.2f}", f"{t5:.2f}"] for v, (t1, t5) in PAPER_TABLE5.items()]
    return "As printed (Tiny ImageNet, median of 3 runs, %):\n\n" + markdown_table(
        ["method", "top-1", "top-5"], rows
    )


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(PRESET.name, Analysis(build=_build))
