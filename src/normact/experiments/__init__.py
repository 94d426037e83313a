"""Paper studies reproduced end to end: presets, sweeps, statistics, verdicts and reports."""

from normact.experiments.preset import Preset, Scale, get_preset, list_presets, load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, render_markdown, write_overview, write_report
from normact.experiments.reproduce import (
    ReproduceResult,
    build_report,
    describe_presets,
    report,
    report_all,
    reproduce,
)
from normact.experiments.results import RunData, StudyRuns, collect_runs
from normact.experiments.verdict import ALPHA, Verdict, decide

__all__ = [
    "ALPHA",
    "Figure",
    "Preset",
    "Report",
    "ReproduceResult",
    "RunData",
    "Scale",
    "Section",
    "StudyRuns",
    "Verdict",
    "build_report",
    "collect_runs",
    "decide",
    "describe_presets",
    "get_preset",
    "list_presets",
    "load_preset",
    "register_preset",
    "render_markdown",
    "report",
    "report_all",
    "reproduce",
    "write_overview",
    "write_report",
]
