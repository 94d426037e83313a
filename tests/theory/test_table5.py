from dataclasses import replace

from normact.theory.solver import solve
from normact.theory.table5 import PAPER_TABLE5, PaperRow, _compare, compare_table5, format_table5


def row_from(sol, group="test"):
    return PaperRow(
        group,
        sol.family,
        sol.eps,
        sol.central,
        round(sol.lam, 2),
        round(sol.alpha, 2),
        None if sol.beta is None else round(sol.beta, 2),
        round(sol.gamma, 3),
    )


def test_a_rounded_optimum_is_a_match():
    for family, eps in [("sselu", 0.05), ("lselu", 0.017), ("dselu", 0.03)]:
        assert _compare(row_from(solve(family, eps))).verdict == "match"


def test_a_non_optimal_entry_is_flagged_with_its_reason():
    row = row_from(solve("sselu", 0.05))
    off = _compare(replace(row, lam=row.lam + 0.08))
    assert off.verdict == "differs"
    assert "do not meet the constraints" in off.note
    assert off.printed_residuals["second_moment"] > 0.02
    worse = _compare(replace(row, gamma=row.gamma + 0.01))
    assert worse.verdict == "differs" and "not the optimum" in worse.note


def test_compare_covers_every_printed_row_and_formats():
    rows = compare_table5()
    assert len(rows) == len(PAPER_TABLE5)
    assert {r.verdict for r in rows} <= {"match", "last digit", "differs"}
    text = format_table5(rows)
    assert text.count("\n") == len(rows) + 1
    assert "sselu (central)" in text
