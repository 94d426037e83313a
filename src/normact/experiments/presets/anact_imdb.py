"""ANAct's IMDB study (section 3.4): TextRCNN with ReLU, NReLU, Swish and NSwish.

The runs and the claims are in ``anact_imdb.yaml``. The paper prints no table for this study, only
each activation's median validation accuracy over 5 runs in its text; this module sets those numbers
beside ours (reference data, never used as expectations) and draws the median accuracy per epoch.
"""

from __future__ import annotations

from pathlib import Path

from normact.experiments.analysis import Analysis, curves_figure, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Report, Section, markdown_table
from normact.experiments.results import StudyRuns

NORMALIZED = ("nrelu", "nswish")

# Section 3.4: median validation accuracy (%) of 5 runs of TextRCNN on IMDB.
PAPER_MEDIANS: dict[str, float] = {"relu": 89.3, "nrelu": 90.2, "swish": 89.4, "nswish": 90.1}


def _style(variant: str, label: str) -> dict[str, object]:
    normalized = variant in NORMALIZED
    return {"label": label, "linestyle": "-" if normalized else "--", "linewidth": 2.2 if normalized else 1.2}


def _build(runs: StudyRuns, report: Report) -> None:
    label = runs.preset.label
    rows = [[label(v), f"{acc:.1f}"] for v, acc in PAPER_MEDIANS.items()]
    report.sections.append(
        Section(
            "Section 3.4, the paper (TextRCNN on IMDB, median of 5 runs)",
            "As printed in the text (%):\n\n" + markdown_table(["method", "validation accuracy"], rows),
        )
    )
    report.figures.append(
        curves_figure(
            runs,
            "accuracy",
            "Median validation accuracy per epoch",
            [("best_acc", "median validation accuracy (%)")],
            lambda v: _style(v, label(v)),
        )
    )


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(PRESET.name, Analysis(build=_build, table=["best_acc", "last_acc"]))
