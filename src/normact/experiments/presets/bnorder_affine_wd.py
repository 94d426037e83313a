"""Weight decay on BN's affine parameters and sparsity (bounded-activations paper, section 5.3, A.9).

The runs and claims are in ``bnorder_affine_wd.yaml``: a Tanh VGG16_11 in the Swap order (BN after the
activation) with the weight decay on every BN's gamma and beta swept from none upwards, the weights'
decay fixed. The paper's argument: in the Swap order BN moves a channel's one-sided (asymmetrically
saturated) outputs to near zero, decay on the affine parameters pulls them further to zero, and the
sparser blocks are more accurate (Figure 7). Its appendix A.9, garbled in our copy, reports the
opposite trend under the same heading. This module adds the sweep's figures (``bnorder_wd``'s, on
sparsity) and a table of the medians per decay.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from normact.experiments.analysis import Analysis, nan_median, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.presets.bnorder_wd import draw_layers, draw_scatter, draw_sweep, sweep_points
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns

GROUP = "norm"  # the parameter group decayed: every BN's weight (gamma) and bias (beta)
# The paper's grid (section 5.3); Figure 7's points are not legible in our copy of the text.
PAPER_GRID = (0.0, 1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4)
# The paper's sparsity of the Swap model (sec. 5.2, default decay on BN), for scale.
PAPER_SWAP_SPARSITY = 0.848927


def _build(runs: StudyRuns, report: Report) -> None:
    points = sweep_points(runs, GROUP, "sparsity")
    rows = []
    for p in points:
        finite = p.acc[np.isfinite(p.acc)]
        rows.append(
            [
                f"{p.decay:g}",
                fmt(nan_median(p.values), 3),
                fmt(nan_median(finite), 2, 100) if finite.size else "–",
                f"{np.isfinite(p.acc).sum()}/{p.acc.size}",
            ]
        )
    report.sections.append(
        Section(
            "Sparsity and accuracy per decay (Figure 7)",
            "Median over runs of the mean block sparsity (blocks' outputs, after BN in the Swap order) and "
            "of the last-epoch test accuracy, per weight decay on BN's gamma and beta. The paper's grid is "
            f"{', '.join(f'{d:g}' for d in PAPER_GRID)}; its Figure 7 is not legible in our copy, and its "
            f"Swap model (default decay) has a mean sparsity of {PAPER_SWAP_SPARSITY:.3f} (sec. 5.2).\n\n"
            + markdown_table(["decay on gamma and beta", "sparsity", "accuracy (%)", "trained runs"], rows),
        )
    )
    label, decay = "mean block sparsity", "decay on BN's gamma and beta"
    report.figures += [
        Figure(
            "sweep",
            "Accuracy (left) and mean block sparsity (right) against the decay on BN's gamma and beta; "
            "dots: runs, line: mean",
            lambda fig: draw_sweep(fig, points, label, "weight decay on BN's gamma and beta"),
        ),
        Figure(
            "sparsity_vs_accuracy",
            "Figure 7: each run's mean block sparsity against its accuracy, coloured by the decay",
            lambda fig: draw_scatter(fig, points, label, decay),
            (6, 4.5),
        ),
        Figure(
            "sparsity_layers",
            "Sparsity of each block, mean over runs, per decay on BN's gamma and beta",
            lambda fig: draw_layers(fig, points, "block sparsity", decay),
            (7, 4),
        ),
    ]


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(
    PRESET.name, Analysis(build=_build, table=["accuracy", "sparsity", "skewness", "saturation"])
)
