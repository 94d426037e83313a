"""ANAct's Transformer study (section 3.4, appendix A.4, Tables 6-7): normalized FFN activations in
DeepNorm Transformers on IWSLT 2015 De-En, in every FFN or below the top k.

The runs are in ``anact_transformer.yaml`` (variant names ``<activation>[_<k><plain>]_<depth>l_<ffn>``).
This module holds the paper's printed BLEU (greedy, with beam-5 in parentheses; reference data, never
used as expectations), the claims the paper draws from them and the analysis: Tables 6 and 7 in the
paper's layout (rows: activations, columns: FFN widths) with the median BLEU of our runs after their
last epoch, a figure of BLEU per epoch, and a verdict per claim (exact rank-sum test on the runs' last
BLEU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from normact.experiments.analysis import Analysis, median_curve, per_run, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, markdown_table
from normact.experiments.results import StudyRuns

FFN = (512, 1024, 2048)
ROWS = {  # table -> (row label, variant prefix)
    6: (("Swish", "swish_12l"), ("NSwish", "nswish_12l"), ("NSwish+1Swish", "nswish_1swish_12l"),
        ("NSwish+6Swish", "nswish_6swish_12l")),
    7: (("ReLU", "relu_6l"), ("NReLU+1ReLU", "nrelu_1relu_6l"), ("NReLU+3ReLU", "nrelu_3relu_6l")),
}  # fmt: skip
# The paper's BLEU, greedy and (beam 5), by variant; Table 6 single runs, Table 7 medians of 3.
PAPER_BLEU: dict[str, tuple[float, float]] = {
    "swish_12l_512": (28.38, 29.50), "swish_12l_1024": (29.27, 30.31), "swish_12l_2048": (29.38, 30.52),
    "nswish_12l_512": (26.78, 27.91), "nswish_12l_1024": (13.54, 14.58), "nswish_12l_2048": (11.05, 12.98),
    "nswish_1swish_12l_512": (29.06, 30.44), "nswish_1swish_12l_1024": (29.38, 30.17),
    "nswish_1swish_12l_2048": (11.43, 12.91), "nswish_6swish_12l_2048": (29.37, 30.61),
    "relu_6l_512": (27.69, 28.72), "relu_6l_1024": (27.81, 28.92), "relu_6l_2048": (28.80, 29.75),
    "nrelu_1relu_6l_512": (27.93, 28.81), "nrelu_1relu_6l_1024": (27.91, 29.17),
    "nrelu_3relu_6l_512": (27.64, 28.82), "nrelu_3relu_6l_2048": (29.37, 30.43),
}  # fmt: skip


def _build(runs: StudyRuns, report: Report) -> None:
    bleu = {v: runs.series(v, "bleu") for v in runs.complete_variants()}
    last = {v: per_run(b, lambda r: r[-1], 0.0) for v, b in bleu.items()}  # 0: no BLEU at all
    beam = runs.base.train.beam
    decoding = "greedy" if beam == 1 else f"beam {beam}"
    report.sections += [Section(f"Table {t}, ours and the paper's", _table(t, last, decoding)) for t in ROWS]
    report.figures.append(
        Figure("bleu", f"Median BLEU per epoch ({decoding}, test set)", lambda f: _draw(f, bleu))
    )


def _table(table: int, last: dict[str, np.ndarray], decoding: str) -> str:
    rows = []
    for label, prefix in ROWS[table]:
        cells = []
        for width in FFN:
            v = f"{prefix}_{width}"
            paper = PAPER_BLEU.get(v)
            paper_text = f"{paper[0]:.2f} ({paper[1]:.2f})" if paper else "–"
            ours = last.get(v)
            ours_text = (
                f"{np.median(ours):.2f} [{ours.min():.2f}, {ours.max():.2f}] (n={ours.size})"
                if ours is not None and ours.size
                else "–"
            )
            cells.append(f"{ours_text} / {paper_text}")
        rows.append([label, *cells])
    depth = "12L-12L" if table == 6 else "6L-6L"
    return (
        f"{depth}: BLEU after the last epoch, ours as median [min, max] over runs (sacreBLEU, {decoding}) "
        "/ the paper's greedy BLEU (beam 5 in parentheses; '–': not run).\n\n"
        + markdown_table(["activation", *(f"FFN 512x{w}" for w in FFN)], rows)
    )


def _draw(fig: MplFigure, bleu: dict[str, np.ndarray]) -> None:
    axes = fig.subplots(1, 2)
    for ax, (table, rows) in zip(axes, ROWS.items(), strict=True):
        for label, prefix in rows:
            for width, style in zip(FFN, (":", "--", "-"), strict=True):
                v = f"{prefix}_{width}"
                if v in bleu:
                    curve = median_curve(bleu[v])
                    ax.plot(
                        np.arange(1, curve.size + 1), curve, linestyle=style, label=f"{label} 512x{width}"
                    )
        ax.set(
            xlabel="epoch",
            ylabel="median BLEU",
            title=f"Table {table}: {'12L-12L' if table == 6 else '6L-6L'}",
        )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(PRESET.name, Analysis(build=_build))
