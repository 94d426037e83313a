"""The self-normalization paper's large-scale study (section 6.3, Table 2): Conv MobileNet V1 on ImageNet.

The runs and the claims are in ``selfnorm_imagenet.yaml``: SELU, dSELU, sSELU and lSELU at eps = 0.06
alone, with weight centralization, with mixup, with mixup and a trainable lambda, the centralized forms
(eq. 13), the lambda >= 0.5 ablation (``normact.theory.solve(..., lam_min=0.5)``) and BN + ReLU. This
module adds the paper's Table 2 as printed (shown beside ours, never used as an expectation) and the
top-1 accuracy per epoch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from normact.experiments.analysis import Analysis, curves_figure, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Report, Section, markdown_table
from normact.experiments.results import StudyRuns

ACTS = {"bnrelu": "BN + ReLU", "selu": "SELU", "dselu": "dSELU", "lselu": "lSELU", "sselu": "sSELU"}

# Table 2 (ImageNet, Conv MobileNet V1, 95 % CI): variant -> (top-1 %, half-width %), None: "Explode in
# the first epoch".
PAPER_TABLE2: dict[str, tuple[float, float] | None] = {
    "bnrelu": (71.42, 0.07),
    "bnrelu_mixup": (71.54, 0.36),
    "selu": None,
    "selu_wc": (69.40, 0.09),
    "selu_mixup": (71.37, 0.14),
    "dselu": (69.63, 0.10),
    "dselu_wc": (69.11, 0.08),
    "dselu_mixup": (71.65, 0.09),
    "dselu_mixup_tl": (71.74, 0.09),
    "lselu": None,
    "lselu_wc": (70.33, 0.05),
    "lselu_mixup": (70.48, 0.06),
    "lselu_mixup_tl": (71.55, 0.09),
    "lselu_central_mixup_tl": (71.82, 0.09),
    "lselu_lam05_mixup": (63.30, 0.25),
    "sselu": None,
    "sselu_wc": (69.07, 0.11),
    "sselu_mixup": (71.42, 0.04),
    "sselu_mixup_tl": (71.77, 0.09),
    "sselu_central_mixup_tl": (71.95, 0.07),
}


def label(variant: str) -> str:
    """``lselu_central_mixup_tl`` -> "lSELU (central) + mixup (trainable lambda)", as Table 2 names rows."""
    act, *parts = variant.split("_")
    text = ACTS[act]
    text += " (central)" if "central" in parts else ""
    text += " (lambda >= 0.5)" if "lam05" in parts else ""
    text += " + WC" if "wc" in parts else ""
    text += " + mixup" if "mixup" in parts else ""
    text += " (trainable lambda)" if "tl" in parts else ""
    return text


def fmt_ci(mean: float, half: float) -> str:
    return f"{mean:.2f} ± {half:.2f}"


def _build(runs: StudyRuns, report: Report) -> None:
    rows = []
    for v in runs.preset.variants_of(runs.scale.name):
        printed = PAPER_TABLE2[v]
        rows.append([label(v), "explodes in the first epoch" if printed is None else fmt_ci(*printed)])
    report.sections.append(
        Section(
            "Table 2, the paper (ImageNet, Conv MobileNet V1)",
            "As printed (top-1 %, 95 % CI):\n\n" + markdown_table(["method", "top-1 (%)"], rows),
        )
    )
    report.figures.append(
        curves_figure(runs, "top1_curves", "Top-1 accuracy per epoch, median over seeds", [("top1", "top-1")])
    )


_loaded = load_preset(Path(__file__).with_suffix(".yaml"))
PRESET = register_preset(dataclasses.replace(_loaded, labels={v: label(v) for v in _loaded.variants}))
register_analysis(PRESET.name, Analysis(build=_build, table=("top1", "top5")))
