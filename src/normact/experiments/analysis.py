"""A preset's report from its runs: the shared summary, the judge's verdicts, the preset's own parts.

Every report is built the same way by :func:`analyze`: a summary of the runs (found, missing, diverged,
exploratory, time), the verdicts of :func:`normact.experiments.judge.judge` on the preset's claims, the
per-variant summary of the metrics the claims use, then what the preset's module adds with
:func:`register_analysis` (a metric no other preset computes, its paper-shaped tables and figures), and
the settings. The shared builders (:func:`median_curve`, :func:`metric_table`, :func:`curves_figure`)
serve every preset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from normact.experiments.judge import CustomMeasure, judge, measure, series
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table, settings_table
from normact.experiments.results import StudyRuns

__all__ = [
    "Analysis",
    "analyze",
    "curves_figure",
    "initial_values",
    "last",
    "median_curve",
    "metric_table",
    "nan_median",
    "per_run",
    "register_analysis",
    "selection_table",
    "summary_text",
]


@dataclass(frozen=True)
class Analysis:
    """What a preset's module adds to the shared report.

    Args:
        measures: the preset's own per-run metrics (``custom: true`` in its YAML): ``(runs, variant) ->
            one number per run``.
        build: ``build(runs, report)`` appends the preset's sections and figures (the verdicts, the
            summary and the metric table are there already).
        table: the metrics of the per-variant summary table (default: every metric a claim uses).
    """

    measures: Mapping[str, CustomMeasure] = field(default_factory=dict)
    build: Callable[[StudyRuns, Report], None] | None = None
    table: Sequence[str] | None = None


_ANALYSES: dict[str, Analysis] = {}


def register_analysis(preset: str, analysis: Analysis) -> Analysis:
    """Register the module-side analysis of preset ``preset`` (see :class:`Analysis`)."""
    _ANALYSES[preset] = analysis
    return analysis


def analyze(runs: StudyRuns) -> Report:
    """The report of ``runs`` (module docstring)."""
    preset = runs.preset
    extra = _ANALYSES.get(preset.analysis or preset.name, Analysis())
    missing = [m.name for m in preset.metrics.values() if m.custom and m.name not in extra.measures]
    if missing:
        raise ValueError(f"preset {preset.name!r}: custom metric {missing[0]!r} has no registered measure")
    report = Report.for_runs(runs, summary_text(runs))
    report.verdicts = judge(runs, custom=extra.measures)
    used = list(
        dict.fromkeys(n for c in preset.claims for n in (c.metric, c.baseline, c.x) if isinstance(n, str))
    )
    report.sections.append(
        Section("Per variant", metric_table(runs, extra.table or used, extra.measures)),
    )
    if runs.scale.select is not None:
        report.sections.append(Section("Selection, then test", selection_table(runs)))
    if extra.build is not None:
        extra.build(runs, report)
    report.sections.append(Section("Settings", settings_table(runs) + "\n\n" + runs.scale.notes))
    return report


def summary_text(runs: StudyRuns) -> str:
    """The report's first paragraph: runs found, diverged, missing, exploratory, time taken."""
    parts = [runs.count_text()]
    diverged = {
        runs.preset.label(v): [f"{r.seed} (epoch {r.diverged_epoch})" for r in rs if r.status == "diverged"]
        for v, rs in runs.runs.items()
    }
    diverged = {v: s for v, s in diverged.items() if s}
    if diverged:
        parts.append(
            "Diverged runs (seed, epoch): "
            + "; ".join(f"{v} {', '.join(s)}" for v, s in diverged.items())
            + ". What a diverged run counts as in each claim is given beside its verdict."
        )
    parts.append(runs.status_text(runs.preset.label))
    return " ".join(parts)


def per_run(rows: np.ndarray, reduce: Callable[[np.ndarray], float], empty: float = math.nan) -> np.ndarray:
    """``reduce`` of each row's values that are not NaN (e.g. a run's epochs); ``empty`` for a row without."""
    return np.array([reduce(r[~np.isnan(r)]) if (~np.isnan(r)).any() else empty for r in rows], dtype=float)


def last(rows: np.ndarray) -> np.ndarray:
    """Each row's last value that is not NaN (a diverged run stops early); NaN for a row without any."""
    return per_run(np.atleast_2d(rows), lambda r: r[-1])


def nan_median(values: np.ndarray) -> float:
    """Median of the values that are not NaN (inf counts); NaN when there is none."""
    return float(per_run(np.atleast_2d(np.asarray(values, dtype=float)), np.median)[0])


def median_curve(values: np.ndarray) -> np.ndarray:
    """Median over runs (axis 0) ignoring NaN; NaN where no run has a value."""
    out = np.full(values.shape[1], np.nan)
    has = (~np.isnan(values)).any(axis=0)
    out[has] = np.nanmedian(values[:, has], axis=0)
    return out


def metric_table(
    runs: StudyRuns, names: Sequence[str], custom: Mapping[str, CustomMeasure] | None = None
) -> str:
    """Per variant: median [min, max] over runs of each metric in ``names``, and the runs (diverged)."""
    metrics = [runs.preset.metrics[n] for n in names]
    rows = []
    for v in runs.complete_variants():
        row: list[Any] = [runs.preset.label(v)]
        for m in metrics:
            x = measure(runs, m, v, custom)
            x = x[~np.isnan(x)]
            row.append(
                "–"
                if not x.size
                else f"{_show(float(np.median(x)), m.scale, m.digits)} "
                f"[{_show(float(x.min()), m.scale, m.digits)}, {_show(float(x.max()), m.scale, m.digits)}]"
            )
        div = sum(r.status == "diverged" for r in runs.runs[v])
        row.append(f"{len(runs.runs[v])}" + (f" ({div} diverged)" if div else ""))
        rows.append(row)
    header = ["variant", *(m.title for m in metrics), "runs"]
    return (
        "Median [min, max] over each variant's runs of the per-run numbers the claims use, as each run "
        "measured them (a diverged run with the value of its last finite epoch; ∞: never).\n\n"
        + markdown_table(header, rows)
    )


def selection_table(runs: StudyRuns) -> str:
    """The scale's selection protocol: the grid, the rule, the seeds, every point's mean and each pick."""
    select = runs.scale.select
    assert select is not None
    metric = runs.preset.metrics[select.metric]
    points = select.points()
    short = {k: k.rpartition(".")[2] for k in select.grid}
    rows = []
    for arm, choice in runs.selection.items():
        cells = []
        for i, point in enumerate(choice.points):
            text = "–" if not point.complete else _show(point.mean, metric.scale, metric.digits)
            if point.diverged:
                rest = point.mean_not_diverged
                others = "" if math.isnan(rest) else f", the others {fmt(rest, metric.digits, metric.scale)}"
                text += f" ({point.diverged} div.{others})"
            if point.missing:
                text += f" ({len(point.missing)} missing)"
            cells.append(f"**{text}**" if i == choice.pick else text)
        picked = choice.picked
        pick = "awaiting selection" if picked is None else ", ".join(
            f"{short[k]} {v:g}" if isinstance(v, float | int) else f"{short[k]} {v}"
            for k, v in picked.overrides.items()
        )  # fmt: skip
        rows.append([runs.preset.label(arm), pick, *cells])
    header = ["arm", "pick", *(", ".join(f"{short[k]} {v}" for k, v in p.items()) for p in points)]
    tuned = "The tuned arm" if len(runs.selection) == 1 else f"Each of the {len(runs.selection)} tuned arms"
    return (
        f"{tuned} was run at every point of a grid on selection seeds before its test runs: "
        f"{select.describe()}. The test runs (seeds "
        f"{runs.seeds[0]}-{runs.seeds[-1]}) use each arm's pick; the selection runs are ordinary runs of "
        "the study (variants `arm@key=value,...`, in runs.csv) and never enter a verdict or the tables "
        f"above. Mean {metric.title} over the selection seeds per grid point, the pick in bold (a "
        "diverged run counts as the worst value; beside it, the mean of the runs that did not diverge)."
        "\n\n" + markdown_table(header, rows)
    )


def _show(x: float, scale: float, digits: int) -> str:
    return fmt(x, digits, scale) if math.isfinite(x) else fmt(x)


def curves_figure(
    runs: StudyRuns,
    name: str,
    caption: str,
    panels: Sequence[tuple[str, str]],
    style: Callable[[str], dict[str, Any]] | None = None,
    log: Sequence[str] = (),
) -> Figure:
    """Median per epoch over each variant's runs, one panel per ``(metric, y label)``.

    ``style(variant)`` gives matplotlib line keywords (default: colour by order, the variant's label);
    metrics named in ``log`` get a log y axis.
    """

    def draw(fig: MplFigure) -> None:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (metric, ylabel) in zip(axes, panels, strict=True):
            m = runs.preset.metrics[metric]
            for i, v in enumerate(runs.complete_variants()):
                kw = style(v) if style else {"color": f"C{i % 10}", "label": runs.preset.label(v)}
                curve = median_curve(series(runs, m, v)) * m.scale
                ax.plot(np.arange(1, curve.size + 1), curve, **kw)
            ax.set(xlabel="epoch", ylabel=ylabel, yscale="log" if metric in log else "linear")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7, ncols=2)

    return Figure(name, caption, draw, (5 * len(panels), 4))


def initial_values(runs: StudyRuns, variant: str, probe: Any) -> dict[int, dict[str, float]]:
    """``probe.on_epoch_end`` on each run's initial weights, by seed.

    The runner seeds torch with the run's seed right before building the model, so building it again
    the same way gives the run's initial weights exactly. The scale's analysis settings give the input
    shape (``input_shape``) and the classes (``num_classes``, default 10).
    """
    import torch

    from normact.train import with_overrides
    from normact.train.loop import build_model

    settings = runs.scale.analysis
    shape, classes = tuple(settings["input_shape"]), int(settings.get("num_classes", 10))
    model_cfg = with_overrides(runs.base, runs.variant_overrides()[variant]).model
    out = {}
    state = torch.random.get_rng_state()
    try:
        for run in runs.runs[variant]:
            torch.manual_seed(run.seed)
            out[run.seed] = probe.on_epoch_end(build_model(model_cfg, classes, shape), 0, [])
    finally:
        torch.random.set_rng_state(state)
    return out
