"""Paper studies reproduced end to end: presets, sweeps, statistics, verdicts and reports."""

from normact.experiments.analysis import Analysis, analyze, register_analysis
from normact.experiments.claims import Claim, Metric
from normact.experiments.judge import judge
from normact.experiments.preset import Preset, Scale, get_preset, list_presets, load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, render_markdown, write_overview, write_report
from normact.experiments.reproduce import (
    ReproduceResult,
    build_report,
    describe_presets,
    load_runs,
    report,
    report_all,
    reproduce,
)
from normact.experiments.results import RunData, StudyRuns, collect_runs, read_runs_csv, write_runs_csv
from normact.experiments.verdict import ALPHA, Verdict, decide, holm

__all__ = [
    "ALPHA",
    "Analysis",
    "Claim",
    "Figure",
    "Metric",
    "Preset",
    "Report",
    "ReproduceResult",
    "RunData",
    "Scale",
    "Section",
    "StudyRuns",
    "Verdict",
    "analyze",
    "build_report",
    "collect_runs",
    "decide",
    "describe_presets",
    "get_preset",
    "holm",
    "judge",
    "list_presets",
    "load_preset",
    "load_runs",
    "read_runs_csv",
    "register_analysis",
    "register_preset",
    "render_markdown",
    "report",
    "report_all",
    "reproduce",
    "write_overview",
    "write_report",
    "write_runs_csv",
]
