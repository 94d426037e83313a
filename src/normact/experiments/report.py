"""Reports: Markdown tables, PNG figures and verdicts of one preset, and an overview of every preset.

A preset's analysis returns a :class:`Report` (text sections, figures as drawing functions, verdicts);
:func:`write_report` renders it into ``<out>/report.md`` with one PNG per figure beside it, and
:func:`write_overview` puts the verdicts of several reports on one page. Figures are drawn with
matplotlib's Agg canvas, without pyplot's global state.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Patch
from matplotlib.ticker import ScalarFormatter

from normact.experiments.verdict import ALPHA, STATUSES, Verdict, format_p

if TYPE_CHECKING:
    from normact.experiments.results import StudyRuns

__all__ = [
    "Figure",
    "Report",
    "Section",
    "fmt",
    "markdown_table",
    "render_markdown",
    "save_figure",
    "settings_table",
    "verdict_table",
    "write_overview",
    "write_report",
]

STATUS_COLORS = {"supports": "#2e7d32", "contradicts": "#c62828", "inconclusive": "#9e9e9e"}


@dataclass(frozen=True)
class Section:
    """A heading and its Markdown body."""

    heading: str
    body: str


@dataclass(frozen=True)
class Figure:
    """A PNG of the report: ``draw(fig)`` fills a fresh matplotlib ``Figure`` of ``size`` inches."""

    name: str  # file name without .png
    caption: str
    draw: Callable[[MplFigure], None]
    size: tuple[float, float] = (10.0, 4.0)


@dataclass
class Report:
    """Everything a preset's analysis says about one study at one scale."""

    preset: str
    scale: str
    title: str
    paper: str
    summary: str  # a paragraph: data, settings, runs found, time taken
    verdicts: list[Verdict] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @classmethod
    def for_runs(cls, runs: StudyRuns, summary: str) -> Report:
        """An empty report on ``runs``' preset and scale, with ``summary``."""
        return cls(runs.preset.name, runs.scale.name, runs.preset.title, runs.preset.paper, summary)


def fmt(x: float, digits: int = 2, scale: float = 1.0) -> str:
    """A number for a table: fixed ``digits``, ``inf`` as ∞, NaN as a dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x * scale:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align``: a letter per column, ``l``, ``r`` or ``c`` (default: l, then r)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or any(len(r) != len(header) for r in rows):
        raise ValueError(f"every row and align must have {len(header)} columns")
    rule = {"l": ":---", "r": "---:", "c": ":---:"}

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = [
        "| " + " | ".join(map(cell, header)) + " |",
        "| " + " | ".join(rule[a] for a in align) + " |",
    ]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def verdict_table(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as a Markdown table: claim, the paper's statement, verdict (raw and after Holm's
    correction), p-values, evidence; a confounded claim says so beside its verdict."""
    rows = []
    for v in verdicts:
        status = f"**{v.status}**" + (" (confounded)" if v.confounded else "")
        p = "–" if math.isnan(v.p_for) else f"{_p(v.p_for)} / {_p(v.p_against)}"
        evidence = v.evidence
        if v.confounded:
            evidence = f"Confounded: {v.confounded.rstrip('.')}. {evidence}"
        if v.diverged:
            evidence += f" Diverged runs: {_DIVERGED[v.diverged]}."
        rows.append([v.claim, v.paper or "–", status, f"**{v.adjusted}**", p, _p(v.p_holm), evidence])
    header = ["claim", "the paper", "verdict", "after Holm", "p for / against", "p (Holm)", "evidence"]
    return markdown_table(header, rows, "lllllll")


_DIVERGED = {
    "worst": "counted as the worst value",
    "exclude": "left out",
    "last": "counted at their last finite epoch",
}


def _p(p: float) -> str:
    return "–" if math.isnan(p) else format_p(p).removeprefix("p = ").removeprefix("p ")


def settings_table(runs: StudyRuns) -> str:
    """The settings every run of a study shares, and what each variant changes, as Markdown."""
    c = runs.base
    data = c.data.name + "".join(f", {k}={v}" for k, v in c.data.options.items())
    model = c.model.name + "".join(f", {k}={v}" for k, v in c.model.kwargs.items())
    optim = f"{c.optim.name}, lr {c.optim.lr:g}"
    if c.optim.name == "sgd":
        optim += f", momentum {c.optim.momentum:g}" + (", nesterov" if c.optim.nesterov else "")
    if c.optim.weight_decay:
        optim += f", weight decay {c.optim.weight_decay:g}"
    probes = ", ".join(p if isinstance(p, str) else p.get("name", "?") for p in c.train.probes) or "none"
    rows = [
        ["data", data],
        ["batch size", c.data.batch_size],
        ["model", model],
        ["optimiser", optim],
        ["schedule", c.schedule.name],
        ["epochs", c.train.epochs],
        ["seeds", f"{runs.seeds[0]}-{runs.seeds[-1]}" if len(runs.seeds) > 1 else runs.seeds[0]],
        ["probes each epoch", f"{probes} (on {c.train.probe_samples or 'all'} test samples)"],
        ["variants", "; ".join(
            f"{name}: " + (", ".join(f"{k}={v}" for k, v in ov.items()) or "base")
            for name, ov in runs.variant_overrides().items()
        )],
    ]  # fmt: skip
    if runs.scale.select is not None:
        rows.append([
            "selected per arm",
            f"{', '.join(runs.scale.select.grid)}: each tuned arm's pick replaces the value above "
            "(see 'Selection, then test')",
        ])  # fmt: skip
    return markdown_table(["setting", "value"], rows, "ll")


def render_markdown(report: Report) -> str:
    """The report as one Markdown page; figures are linked as ``<name>.png`` beside it."""
    parts = [
        f"# {report.title}",
        f"*{report.paper}* — preset `{report.preset}`, scale `{report.scale}`.",
        report.summary,
    ]
    if report.verdicts:
        parts += [
            "## Verdicts",
            f"Each claim is one pre-declared one-sided test at alpha = {ALPHA:g}: *supports* when it rejects "
            "'no difference' in the claim's direction, *contradicts* when the same test rejects in the "
            "opposite direction, *inconclusive* otherwise. 'After Holm': the same rule on the smaller "
            "p-value after Holm's correction over this report's claims (p (Holm)). *Confounded*: the arms "
            "differ in more than the factor the claim is about, so the verdict cannot be pinned on that "
            "factor alone.",
            verdict_table(report.verdicts),
        ]
    for section in report.sections:
        parts += [f"## {section.heading}", section.body.strip()]
    if report.figures:
        parts.append("## Figures")
        for fig in report.figures:
            parts.append(f"![{fig.caption}]({fig.name}.png)\n\n*{fig.caption}*")
    return "\n\n".join(p.strip() for p in parts if p.strip()) + "\n"


def plain_log_ticks(axis: Any) -> None:
    """Tick labels of a log-scaled matplotlib axis as plain numbers (0.5, 4, 20), not powers of ten."""
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(ScalarFormatter())


def save_figure(figure: Figure, path: Path, dpi: int = 110) -> Path:
    """Draw ``figure`` and write it as PNG to ``path``."""
    fig = MplFigure(figsize=figure.size, layout="constrained")
    FigureCanvasAgg(fig)
    figure.draw(fig)
    fig.savefig(path, dpi=dpi)
    return path


def write_report(report: Report, out: str | Path) -> Path:
    """Write ``report.md`` and its PNGs into the folder ``out`` (created); returns the Markdown path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for figure in report.figures:
        save_figure(figure, out / f"{figure.name}.png")
    path = out / "report.md"
    path.write_text(render_markdown(report))
    return path


def write_overview(
    reports: Sequence[tuple[Report, str]], out: str | Path, failed: Sequence[tuple[str, str, str]] = ()
) -> Path:
    """One page with every report's verdicts: ``overview.md`` and ``overview.png`` in ``out``.

    Args:
        reports: ``(report, link)`` pairs, ``link`` the path of the report's Markdown relative to ``out``.
        failed: ``(preset, scale, error)`` of the reports that could not be written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, studies = [], []
    for report, link in reports:
        counts = [
            f"{sum(v.status == s for v in report.verdicts)} / {sum(v.adjusted == s for v in report.verdicts)}"
            for s in STATUSES
        ]
        studies.append([f"[{report.preset}]({link})", report.scale, report.paper, *counts])
        for v in report.verdicts:
            status = f"**{v.status}**" + (" (confounded)" if v.confounded else "")
            rows.append([f"[{report.preset}]({link})", report.scale, v.claim, status, f"**{v.adjusted}**"])
    every = [v for r, _ in reports for v in r.verdicts]
    raw = ", ".join(f"{sum(v.status == s for v in every)} {s}" for s in STATUSES)
    adjusted = ", ".join(f"{sum(v.adjusted == s for v in every)} {s}" for s in STATUSES)
    lines = [
        "# Paper claims: overview",
        f"Verdicts of every preset with complete runs ({len(reports)} "
        f"report{'s' if len(reports) != 1 else ''}; {raw}; after Holm's correction within each report: "
        f"{adjusted}; {sum(bool(v.confounded) for v in every)} claims confounded). "
        f"Each claim is one pre-declared one-sided test at alpha = {ALPHA:g}; the linked reports give "
        "the evidence, the p-values, the paper's numbers beside ours, every setting, and a runs.csv from "
        "which `normact report NAME --runs runs.csv` rebuilds them without the store.",
    ]
    if studies:
        header = ["preset", "scale", "paper", *(f"{s} (raw / Holm)" for s in STATUSES)]
        lines += ["## Reports", markdown_table(header, studies, "lllrrr")]
    lines += [
        "## Verdicts",
        markdown_table(["preset", "scale", "claim", "verdict", "after Holm"], rows, "lllll")
        if rows
        else "No verdicts yet.",
        "![verdicts of every preset](overview.png)",
    ]
    if failed:
        lines += [
            "## Not reported",
            "These presets have runs in the store, but their report failed:",
            "\n".join(f"- `{name}` at scale `{scale}`: {error}" for name, scale, error in failed),
        ]
    path = out / "overview.md"
    path.write_text("\n\n".join(lines) + "\n")
    height = 0.9 + 0.3 * max(1, sum(len(_wrap_label(r, v)) for r, _ in reports for v in r.verdicts))
    save_figure(
        Figure("overview", "verdicts", lambda fig: _draw_overview(fig, reports), (11, height)),
        out / "overview.png",
    )
    return path


def _wrap_label(report: Report, verdict: Verdict) -> list[str]:
    return textwrap.wrap(f"{report.preset} ({report.scale}): {verdict.claim}", 80)


def _draw_overview(fig: MplFigure, reports: Sequence[tuple[Report, str]]) -> None:
    ax = fig.add_subplot()
    labels, colors, sizes = [], [], []
    for report, _ in reports:
        for v in report.verdicts:
            lines = _wrap_label(report, v)
            labels.append("\n".join(lines))
            colors.append(STATUS_COLORS[v.status])
            sizes.append(len(lines))
    # each bar as tall as its label's lines, top to bottom in the table's order
    tops = [sum(sizes[:i]) for i in range(len(sizes))]
    y = [-(t + n / 2) for t, n in zip(tops, sizes, strict=True)]
    ax.barh(y, [1] * len(labels), height=[n - 0.25 for n in sizes], color=colors)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xticks([])
    ax.set_xlim(0, 1)
    ax.set_ylim(-max(1, sum(sizes)), 0)
    fig.legend(
        handles=[Patch(color=c, label=s) for s, c in STATUS_COLORS.items()],
        loc="outside upper center",
        ncols=3,
        frameon=False,
    )
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
