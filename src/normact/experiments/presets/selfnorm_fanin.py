"""The self-normalization paper's fan-in study (appendix A.5, Figure 7): mu * N_{l-1} against width.

The runs and the claim are in ``selfnorm_fanin.yaml``: a 32-layer serial CNN with dSELU at three widths
(every layer's channels times k = 1, 2, 4), the ``mu_fan_in`` probe recording ``|E W| * N_{l-1}`` of
every weight after each epoch. Proposition 3.2: a layer normalizes the mean only while mu N_{l-1} < 1;
the paper's Figure 7 shows larger values at larger fan-in, and prints no numbers.

At initialisation, with W ~ N(0, 1/N) i.i.d. over ``c_out * N`` entries, ``E|mean W| * N =
sqrt(2 / pi) / sqrt(c_out)``: wider layers start *lower*, by 1/sqrt(k). The levels after training
carry that start with them, so the claim is judged on the change from each run's own initial value
(``mu_change``, this module's metric: the model rebuilt with the run's seed gives its initial weights).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from normact.experiments.analysis import Analysis, initial_values, median_curve, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns
from normact.probes.callbacks import MuFanIn

PREFIX = "mu_fan_in/"


def _order(name: str) -> tuple[int, int, int]:
    """Depth order of a serial CNN's weight names: stem, stage1.conv1 .. stage3.convN, head."""
    if name.startswith("stem"):
        return (0, 0, 0)
    if name.startswith("head"):
        return (4, 0, 0)
    stage, conv = name.split(".")[:2]
    return (1, int(stage.removeprefix("stage")), int(conv.removeprefix("conv")))


def _layers(runs: StudyRuns, variant: str) -> tuple[list[str], np.ndarray]:
    """The weights in depth order and mu N per (run, epoch, layer)."""
    family = runs.family(variant, PREFIX)
    names = sorted(family, key=_order)
    return names, np.stack([family[n] for n in names], axis=-1)


def _last_rows(values: np.ndarray) -> np.ndarray:
    """Per run: mu N of every layer after the run's last epoch with values (NaN row if none)."""
    out = np.full((values.shape[0], values.shape[2]), np.nan)
    for i, run in enumerate(values):
        rows = run[~np.isnan(run).all(axis=1)]
        if rows.size:
            out[i] = rows[-1]
    return out


def _initial(runs: StudyRuns, variant: str, names: list[str]) -> np.ndarray:
    """Per run: mu N of every layer of its initial weights (stored as epoch 0, else the model rebuilt)."""
    rebuilt: dict[int, dict[str, float]] = {}
    rows = []
    for run in runs.runs[variant]:
        init = run.initial
        if not any(k.startswith(PREFIX) for k in init):
            rebuilt = rebuilt or initial_values(runs, variant, MuFanIn())
            init = rebuilt[run.seed]
        rows.append([init.get(PREFIX + n, np.nan) for n in names])
    return np.array(rows)


def mu_change(runs: StudyRuns, variant: str) -> np.ndarray:
    """Per run: the median over layers of mu N after the last epoch minus mu N at initialisation."""
    names, values = _layers(runs, variant)
    if not names:
        return np.full(len(runs.runs[variant]), np.nan)
    return np.nanmedian(_last_rows(values) - _initial(runs, variant, names), axis=1)


def _expected_at_init(runs: StudyRuns, variant: str) -> float:
    """E[mu N] at initialisation, sqrt(2/pi) / sqrt(c_out), as the median over the weights."""
    from normact.train import with_overrides
    from normact.train.loop import build_model

    cfg = with_overrides(runs.base, runs.preset.variants_of(runs.scale.name)[variant]).model
    model = build_model(cfg, 10, tuple(runs.scale.analysis["input_shape"]))
    outs = [p.shape[0] for p in model.parameters() if p.dim() >= 2]
    return float(np.median([math.sqrt(2 / math.pi) / math.sqrt(c) for c in outs]))


def _build(runs: StudyRuns, report: Report) -> None:
    data = {v: _layers(runs, v)[1] for v in runs.complete_variants()}
    report.sections.append(Section("mu * N_{l-1} per width", _table(runs, data)))
    report.figures += [
        Figure(
            "figure7",
            "Figure 7: mu * N_{l-1} of every layer (stem to head) after each epoch (light to dark), seed 0",
            lambda fig: _draw_figure7(fig, runs, data),
            (4 * len(data), 3.8),
        ),
        Figure(
            "mu_fan_in_over_epochs",
            "Median over layers of mu * N_{l-1} per epoch: median (line) and range (band) over seeds",
            lambda fig: _draw_over_epochs(fig, runs, data),
            (6, 4),
        ),
    ]


def _table(runs: StudyRuns, data: dict[str, np.ndarray]) -> str:
    rows = []
    for v, values in data.items():
        names = _layers(runs, v)[0]
        init = np.nanmedian(_initial(runs, v, names), axis=1)
        last = np.nanmedian(_last_rows(values), axis=1)
        expected = _expected_at_init(runs, v)
        rows.append([
            runs.preset.label(v),
            fmt(expected, 4),
            fmt(float(np.median(init)), 4),
            fmt(float(np.nanmedian(np.nanmedian(values[:, 0], axis=1))), 4),
            f"{fmt(float(np.median(last)), 4)} [{fmt(last.min(), 4)}, {fmt(last.max(), 4)}]",
            fmt(float(np.median(last)) / expected, 2),
            len(values),
        ])  # fmt: skip
    header = ["width", "expected at init", "at init (runs)", "after epoch 1",
              "after the last epoch, median [range]",
              "last / expected at init", "runs"]  # fmt: skip
    return (
        "Median over layers of mu * N_{l-1}, then median over runs (range over runs in brackets). "
        "'Expected at init': sqrt(2/pi)/sqrt(c_out), the expectation of |mean W| * N for W ~ N(0, 1/N), "
        "median over the layers: it scales as 1/sqrt(k), so wider networks start lower and the levels "
        "after training are not the effect of training alone. 'At init (runs)': the runs' own initial "
        "weights (the model rebuilt with each run's seed), from which the claim's change is measured. "
        "Values below 1 mean the layer still normalizes the mean (Proposition 3.2).\n\n"
        + markdown_table(header, rows)
    )


def _draw_figure7(fig: MplFigure, runs: StudyRuns, data: dict[str, np.ndarray]) -> None:
    axes = fig.subplots(1, len(data), sharey=True, squeeze=False)[0]
    for ax, (v, values) in zip(axes, data.items(), strict=True):
        run = values[0]
        epochs = [e for e in range(run.shape[0]) if not np.isnan(run[e]).all()]
        for i, e in enumerate(epochs):
            shade = 0.25 + 0.75 * i / max(len(epochs) - 1, 1)
            ax.plot(np.arange(1, run.shape[1] + 1), run[e], color=(0.1, 0.2, 0.6, shade), linewidth=1)
        ax.set(title=f"dSELU {runs.preset.label(v)}", xlabel="layer l", yscale="log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mu * N_{l-1}")


def _draw_over_epochs(fig: MplFigure, runs: StudyRuns, data: dict[str, np.ndarray]) -> None:
    ax = fig.add_subplot()
    for i, (v, values) in enumerate(data.items()):
        per_run = np.nanmedian(values, axis=2)  # (runs, epochs)
        epochs = np.arange(1, per_run.shape[1] + 1)
        ax.fill_between(epochs, np.nanmin(per_run, 0), np.nanmax(per_run, 0), color=f"C{i}", alpha=0.2)
        ax.plot(epochs, median_curve(per_run), color=f"C{i}", label=runs.preset.label(v))
    ax.set(xlabel="epoch", ylabel="median over layers of mu * N_{l-1}", yscale="log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.grid(alpha=0.3)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(
    PRESET.name, Analysis(measures={"mu_change": mu_change}, build=_build, table=["mu_last", "mu_change"])
)
