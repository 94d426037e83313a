"""Every committed report with a runs.csv is rebuilt from that file alone, and its verdicts match."""

import re
from pathlib import Path

import pytest

from normact.experiments import build_report, list_presets

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
# (preset, scale): docs/results/<preset>/runs.csv is the cpu scale, <preset>/<scale>/runs.csv another one
COMMITTED = sorted(
    [(p.parent.name, "cpu") for p in RESULTS.glob("*/runs.csv")]
    + [(p.parent.parent.name, p.parent.name) for p in RESULTS.glob("*/*/runs.csv")]
)


def _verdict_rows(text: str) -> dict[str, tuple[str, str]]:
    """claim -> (verdict, verdict after Holm) from a report's verdict table."""
    rows = {}
    for line in text.split("## Verdicts", 1)[1].split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 7 and cells[2].startswith("**"):
            rows[cells[0].replace("\\|", "|")] = (cells[2].split("**")[1], cells[3].strip("*"))
    return rows


def test_there_is_a_committed_report_to_recheck():
    assert COMMITTED, f"no runs.csv under {RESULTS}"


@pytest.mark.parametrize(("name", "scale"), COMMITTED)
def test_a_committed_report_is_rebuilt_from_its_runs_csv(name, scale):
    assert name in list_presets()
    folder = RESULTS / name if scale == "cpu" else RESULTS / name / scale
    report = build_report(name, scale, runs_csv=folder / "runs.csv")
    committed = _verdict_rows((folder / "report.md").read_text())
    rebuilt = {v.claim: (v.status, v.adjusted) for v in report.verdicts}
    assert rebuilt == committed and len(rebuilt) == len(report.verdicts) > 0
