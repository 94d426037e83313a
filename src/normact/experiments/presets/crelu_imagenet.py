"""The CReLU paper's ImageNet study (Table 4): ResNet-34/50/101, four normalizations, ReLU and CReLU.

The runs and the claims are in ``crelu_imagenet.yaml``. This module sets the paper's printed error
rates (reference data, never used as expectations) beside ours: per network the median top-1 and
top-5 error after the last epoch (single crop), with the order-statistic interval of the top-1, and
draws the median top-1 and top-5 accuracy per epoch.
"""

from __future__ import annotations

from pathlib import Path

from normact.experiments import stats
from normact.experiments.analysis import Analysis, curves_figure, last, nan_median, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns

# Table 4: top-1 and top-5 error (%) on the ImageNet validation set, single crop, then 10-crop (†).
# ResNet-34/50/101 BatchNorm ReLU are Gross and Wilber's numbers (‡ in the paper).
PAPER_TABLE4: dict[str, tuple[float, float, float, float]] = {
    "r34_plain_relu": (29.92, 10.84, 27.15, 9.16),
    "r34_np2_relu": (29.23, 10.29, 27.46, 9.07),
    "r34_np3_relu": (29.72, 10.54, 27.38, 9.16),
    "r34_bn_relu": (26.73, 8.74, 24.76, 7.35),
    "r34_plain_crelu": (28.85, 10.28, 26.59, 8.90),
    "r34_np2_crelu": (29.31, 10.29, 27.57, 9.15),
    "r34_np3_crelu": (28.28, 9.84, 26.26, 8.73),
    "r34_bn_crelu": (25.62, 8.28, 23.72, 7.15),
    "r50_plain_relu": (31.48, 12.27, 29.31, 10.54),
    "r50_np2_relu": (29.75, 10.80, 28.16, 9.79),
    "r50_np3_relu": (28.08, 9.74, 26.01, 8.38),
    "r50_bn_relu": (24.01, 7.02, 22.24, 6.08),
    "r50_plain_crelu": (28.00, 9.58, 26.51, 8.65),
    "r50_np2_crelu": (29.06, 10.31, 27.58, 9.35),
    "r50_np3_crelu": (26.12, 8.51, 24.27, 7.40),
    "r50_bn_crelu": (23.03, 6.67, 21.59, 5.69),
    "r101_bn_relu": (22.44, 6.21, 21.08, 5.35),
    "r101_bn_crelu": (21.89, 5.92, 20.63, 5.35),
}


def _build(runs: StudyRuns, report: Report) -> None:
    label = runs.preset.label
    rows = []
    for v in runs.complete_variants():
        top1, top5 = (1.0 - last(runs.series(v, key)) for key in ("test_acc", "test_acc5"))
        median = stats.median_ci(top1)
        paper = PAPER_TABLE4.get(v)
        rows.append([
            label(v),
            f"{fmt(median.estimate, 2, 100)} [{fmt(median.low, 2, 100)}, {fmt(median.high, 2, 100)}]",
            fmt(nan_median(top5), 2, 100),
            *((f"{x:.2f}" for x in paper[:2]) if paper else ("–", "–")),
            len(top1),
        ])  # fmt: skip
    header = ["network", "top-1 error, median [CI]", "top-5 error (median)", "paper: top-1", "top-5", "runs"]
    ours = (
        "Error (%) on the validation images after the last epoch, single central crop; a diverged run "
        "has the error of its last finite epoch. Median interval: order statistics ([min, max] with "
        "n <= 5 runs). The paper's single-crop errors beside ours.\n\n" + markdown_table(header, rows)
    )
    printed = [[label(v), *(f"{x:.2f}" for x in errors)] for v, errors in PAPER_TABLE4.items()]
    paper_header = ["network", "top-1", "top-5", "top-1, 10-crop", "top-5, 10-crop"]
    report.sections += [
        Section(f"Table 4, ours ({runs.scale.name} scale) beside the paper's", ours),
        Section(
            "Table 4, the paper (error rates on the ImageNet validation set, %)",
            "As printed; the BatchNorm ReLU rows are Gross and Wilber's numbers.\n\n"
            + markdown_table(paper_header, printed),
        ),
    ]
    report.figures.append(
        curves_figure(
            runs,
            "accuracy",
            "Median top-1 (left) and top-5 (right) validation accuracy per epoch",
            [("accuracy", "median top-1 accuracy (%)"), ("accuracy5", "median top-5 accuracy (%)")],
        )
    )


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(PRESET.name, Analysis(build=_build, table=["accuracy", "accuracy5"]))
