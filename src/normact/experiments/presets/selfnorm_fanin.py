"""The self-normalization paper's fan-in study (appendix A.5, Figure 7): mu * N_{l-1} against width.

The runs are in ``selfnorm_fanin.yaml``: a 32-layer serial CNN with dSELU at three widths (every
layer's channels times k = 1, 2, 4), with the ``mu_fan_in`` probe recording ``|E W| * N_{l-1}`` of
every weight after each epoch. Proposition 3.2: multiplying by W scales the mean of its input by at
most mu N_{l-1}, so a layer normalizes the mean only while mu N_{l-1} < 1; the paper's Figure 7 shows
larger values at larger fan-in. The paper prints no numbers for this figure.

At initialisation, with W ~ N(0, 1/N) i.i.d. over ``c_out * N`` entries, ``E|mean W| * N =
sqrt(2 / pi) / sqrt(c_out)``: wider layers start *lower*, so a rise with width, if any, comes from
training. The report shows this reference beside the measurements.
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
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table, settings_table
from normact.experiments.results import StudyRuns
from normact.experiments.verdict import Verdict, decide

CLAIM = "Layers with a larger fan-in have a larger mu * N_{l-1} (Fig. 7)"
CLAIMS = (CLAIM,)
PREFIX = "mu_fan_in/"


def _order(name: str) -> tuple[int, int, int]:
    """Depth order of a serial CNN's weight names: stem, stage1.conv1 .. stage3.convN, head."""
    if name.startswith("stem"):
        return (0, 0, 0)
    if name.startswith("head"):
        return (4, 0, 0)
    stage, conv = name.split(".")[:2]
    return (1, int(stage.removeprefix("stage")), int(conv.removeprefix("conv")))


class _Width:
    """The runs of one width: mu N per (run, epoch, layer) in depth order."""

    def __init__(self, runs: StudyRuns, variant: str, k: float) -> None:
        self.name, self.k = variant, k
        family = runs.family(variant, PREFIX)
        self.layers = sorted(family, key=_order)
        self.values = np.stack([family[name] for name in self.layers], axis=-1)  # (runs, epochs, layers)
        self.seeds = [r.seed for r in runs.runs[variant]]
        self.diverged = sum(r.status == "diverged" for r in runs.runs[variant])

    def last(self) -> np.ndarray:
        """Per run: the median over layers of mu N after the last epoch with values."""
        out = []
        for run in self.values:
            rows = run[~np.isnan(run).all(axis=1)]
            out.append(float(np.median(rows[-1])) if rows.size else math.nan)
        return np.array(out)


def analyze(runs: StudyRuns) -> Report:
    """Figure 7, a per-width table and the verdict on the fan-in claim."""
    widths = runs.scale.analysis["widths"]
    data = {v: _Width(runs, v, float(widths[v])) for v in runs.complete_variants()}
    report = Report.for_runs(runs, _summary(runs, data))
    report.verdicts = [_verdict(data)]
    report.sections = [
        Section("mu * N_{l-1} per width", _table(runs, data)),
        Section("Settings", settings_table(runs) + "\n\n" + runs.scale.notes),
    ]
    report.figures = [
        Figure(
            "figure7",
            "Figure 7: mu * N_{l-1} of every layer (stem to head) after each epoch (light to dark), seed 0",
            lambda fig: _draw_figure7(fig, data),
            (4 * len(data), 3.8),
        ),
        Figure(
            "mu_fan_in_over_epochs",
            "Median over layers of mu * N_{l-1} per epoch: median (line) and range (band) over seeds",
            lambda fig: _draw_over_epochs(fig, data),
            (6, 4),
        ),
    ]
    return report


def _summary(runs: StudyRuns, data: dict[str, _Width]) -> str:
    parts = [
        f"{runs.n_runs} complete runs ({len(data)} widths, seeds {runs.seeds[0]}-{runs.seeds[-1]}), "
        f"{runs.epochs} epochs each. mu * N_{{l-1}} = |E W| * fan-in of each weight (convolutions and "
        "the head), after every epoch."
    ]
    diverged = {v: d.diverged for v, d in data.items() if d.diverged}
    if diverged:
        parts.append("Diverged: " + ", ".join(f"{k} {n}" for k, n in diverged.items()) + ".")
    parts.append(runs.status_text())
    return " ".join(parts)


def _init_reference(runs: StudyRuns, variant: str) -> float:
    """E[mu N] at initialisation, sqrt(2/pi) / sqrt(c_out), as the median over the convolutions."""
    from normact.train import with_overrides
    from normact.train.loop import build_model

    cfg = with_overrides(runs.base, runs.preset.variants_of(runs.scale.name)[variant]).model
    model = build_model(cfg, 10, tuple(runs.scale.analysis["input_shape"]))
    outs = [p.shape[0] for n, p in model.named_parameters() if p.dim() >= 2]
    return float(np.median([math.sqrt(2 / math.pi) / math.sqrt(c) for c in outs]))


def _table(runs: StudyRuns, data: dict[str, _Width]) -> str:
    rows = []
    for v, d in data.items():
        last = d.last()
        first = np.array([np.nanmedian(run[0]) for run in d.values])
        init = _init_reference(runs, v)
        rows.append(
            [
                v,
                f"{d.k:g}",
                fmt(init, 4),
                fmt(float(np.nanmedian(first)), 4),
                f"{fmt(float(np.nanmedian(last)), 4)} [{fmt(np.nanmin(last), 4)}, {fmt(np.nanmax(last), 4)}]",
                fmt(float(np.nanmedian(last)) / init, 2),
                fmt(float(np.nanmax(d.values)), 4),
                len(d.seeds),
            ]
        )
    header = ["width", "k", "expected at init", "after epoch 1", "after the last epoch, median [range]",
              "last / expected at init", "largest (any layer, epoch, run)", "runs"]  # fmt: skip
    return (
        "Median over layers of mu * N_{l-1}, then median over runs (range over runs in brackets). "
        "'Expected at init': sqrt(2/pi)/sqrt(c_out), the expectation of |mean W| * N for W ~ N(0, 1/N), "
        "median over the layers; 'last / expected at init' says how far training moved the weights' means "
        "relative to where they started. Values below 1 mean the layer still normalizes the mean "
        "(Proposition 3.2).\n\n" + markdown_table(header, rows)
    )


def _verdict(data: dict[str, _Width]) -> Verdict:
    k = np.concatenate([np.full(len(d.seeds), d.k) for d in data.values()])
    last = np.concatenate([d.last() for d in data.values()])
    keep = ~np.isnan(last)
    per = ", ".join(f"x{d.k:g} {_list(d.last())}" for d in data.values())
    evidence = (
        f"median over layers of mu * N_{{l-1}} after the last epoch, per run: {per}; Spearman's rho "
        "between k and that value"
    )
    if keep.sum() < 3 or len(set(k[keep])) < 2:
        return Verdict(CLAIM, "inconclusive", evidence + ": too few runs with values to test.")
    rho, p_greater, p_less = stats.spearman(k[keep], last[keep])
    evidence += f" = {rho:.3f} over {int(keep.sum())} runs"
    return decide(CLAIM, p_greater, p_less, evidence, stats.n_for_correlation(rho), "runs")


def _list(values: np.ndarray) -> str:
    return "[" + ", ".join(fmt(v, 4) for v in values) + "]"


def _draw_figure7(fig: MplFigure, data: dict[str, _Width]) -> None:
    axes = fig.subplots(1, len(data), sharey=True, squeeze=False)[0]
    for ax, (_v, d) in zip(axes, data.items(), strict=True):
        run = d.values[0]
        epochs = [e for e in range(run.shape[0]) if not np.isnan(run[e]).all()]
        for i, e in enumerate(epochs):
            shade = 0.25 + 0.75 * i / max(len(epochs) - 1, 1)
            ax.plot(np.arange(1, run.shape[1] + 1), run[e], color=(0.1, 0.2, 0.6, shade), linewidth=1)
        ax.set(title=f"dSELU x{d.k:g}", xlabel="layer l", yscale="log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mu * N_{l-1}")


def _draw_over_epochs(fig: MplFigure, data: dict[str, _Width]) -> None:
    ax = fig.add_subplot()
    for i, d in enumerate(data.values()):
        per_run = np.nanmedian(d.values, axis=2)  # (runs, epochs)
        epochs = np.arange(1, per_run.shape[1] + 1)
        color: Any = f"C{i}"
        ax.fill_between(epochs, np.nanmin(per_run, 0), np.nanmax(per_run, 0), color=color, alpha=0.2)
        ax.plot(epochs, np.nanmedian(per_run, 0), color=color, label=f"x{d.k:g}")
    ax.set(xlabel="epoch", ylabel="median over layers of mu * N_{l-1}", yscale="log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml"), CLAIMS, analyze))
