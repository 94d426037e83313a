"""The CReLU paper's Table 3: BatchNorm ResNet-110 with ReLU against a narrower CReLU of similar size.

The runs and the claim are in ``crelu_matched.yaml``. This module sets the paper's printed errors
(reference data, never used as expectations) beside ours, with each network's filters and its number
of parameters counted from the model the runs build.
"""

from __future__ import annotations

from pathlib import Path

from normact.experiments import stats
from normact.experiments.analysis import Analysis, last, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns
from normact.train import with_overrides
from normact.train.loop import build_model

# Table 3: test error (%) and filters per stage, by number of classes (the median of 5 runs).
PAPER_TABLE3: dict[int, dict[str, tuple[float, str]]] = {
    10: {"relu": (6.35, "16-32-64"), "crelu": (5.87, "12-24-48")},
    100: {"relu": (22.50, "32-64-128"), "crelu": (22.06, "24-48-96")},
}


def _build(runs: StudyRuns, report: Report) -> None:
    classes = int(runs.scale.analysis.get("num_classes", 10))
    if classes not in PAPER_TABLE3:
        raise ValueError(f"analysis.num_classes must be one of {sorted(PAPER_TABLE3)}, got {classes}")
    shape = tuple(runs.scale.analysis.get("input_shape", (3, 32, 32)))  # for the parameter count
    variants = runs.preset.variants_of(runs.scale.name)
    rows = []
    for v in runs.complete_variants():
        model = with_overrides(runs.base, variants[v]).model
        net = build_model(model, classes, shape)
        filters = "-".join(str(getattr(net, f"layer{s}")[0].out_channels) for s in (1, 2, 3))
        error = 1.0 - last(runs.series(v, "test_acc"))
        median = stats.median_ci(error)
        paper_error, paper_filters = PAPER_TABLE3[classes][v]
        rows.append([
            runs.preset.label(v), filters, f"{sum(p.numel() for p in net.parameters()):,}",
            f"{fmt(median.estimate, 2, 100)} [{fmt(median.low, 2, 100)}, {fmt(median.high, 2, 100)}]",
            f"{paper_error:.2f} ({paper_filters})", len(error),
        ])  # fmt: skip
    header = [
        "activation",
        "filters",
        "parameters",
        "test error, median [CI]",
        "paper: error (filters)",
        "runs",
    ]
    text = (
        f"Test error (%) after the last epoch, {classes} classes; the filters and parameters are those of "
        "the networks the runs built. Median interval: order statistics ([min, max] with n <= 5 runs).\n\n"
        + markdown_table(header, rows)
    )
    report.sections.append(Section(f"Table 3, ours ({runs.scale.name} scale) beside the paper's", text))


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(PRESET.name, Analysis(build=_build))
