"""Verdicts on a paper's claims, with one decision rule for every preset.

Each claim is tested by one pre-declared one-sided test. The rule:

- **supports** when the test in the claim's direction rejects "no difference" at ``ALPHA`` (p < 0.05);
- **contradicts** when the same test in the opposite direction does;
- **inconclusive** otherwise, with the number of runs that would be needed (80 % power at ``ALPHA``,
  if the effect observed were the true one) where a preset can give it.

Each verdict is given twice: on its own (the raw p-values), and after Holm's step-down correction over
the claims of the preset (:func:`holm`), which keeps the chance of any false verdict among them at
``ALPHA``. Holm's family is the claims that were tested, each with the smaller of its two one-sided
p-values (the direction its data point to).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from statsmodels.stats.multitest import multipletests

__all__ = ["ALPHA", "POWER", "STATUSES", "Verdict", "decide", "format_p", "holm"]

ALPHA = 0.05  # one-sided significance level of every verdict
POWER = 0.8  # power assumed when a preset says how many runs an inconclusive verdict would need
MAX_NEEDED = 1000  # larger sample sizes are reported as "more than"
STATUSES = ("supports", "contradicts", "inconclusive")

Status = Literal["supports", "contradicts", "inconclusive"]


@dataclass(frozen=True)
class Verdict:
    """What our runs say about one claim of a paper, and why."""

    claim: str
    status: Status  # on the claim's own p-values
    evidence: str
    p_for: float = math.nan  # one-sided p-value in the claim's direction (NaN: not tested)
    p_against: float = math.nan
    p_holm: float = math.nan  # the smaller of the two after Holm's correction over the preset's claims
    status_holm: Status | None = None  # the verdict at the Holm-adjusted p-value
    paper: str = ""  # where the paper states the claim, and its number
    confounded: str = ""  # what else differs between the arms, when something does
    diverged: str = ""  # what a diverged run counted as

    def __post_init__(self) -> None:
        for status in (self.status, self.status_holm or self.status):
            if status not in STATUSES:
                raise ValueError(f"verdict status must be one of {list(STATUSES)}, got {status!r}")

    @property
    def adjusted(self) -> Status:
        """The verdict after Holm's correction (the raw one when Holm's was not applied)."""
        return self.status_holm or self.status


def format_p(p: float) -> str:
    """A p-value as text: three significant digits, ``< 1e-4`` below that."""
    return "p < 1e-4" if p < 1e-4 else f"p = {p:.3g}"


def decide(
    claim: str,
    p_for: float,
    p_against: float,
    evidence: str,
    needed: float | None = None,
    unit: str = "runs per group",
    alpha: float = ALPHA,
) -> Verdict:
    """Apply the rule above to the one-sided p-values of a claim's test in both directions.

    Args:
        claim: the claim as the paper states it.
        p_for: p-value of the test in the claim's direction.
        p_against: p-value of the same test in the opposite direction.
        evidence: what was measured (numbers, the test); the p-values and the decision are appended.
        needed: for an inconclusive verdict, how many runs would give the test 80 % power at the
            observed effect (``inf``: no effect in the claim's direction was observed).
        unit: what ``needed`` counts.
    """
    if p_for < alpha:
        status: Status = "supports"
    elif p_against < alpha:
        status = "contradicts"
    else:
        status = "inconclusive"
    text = f"{evidence.rstrip('.')}; one-sided {format_p(p_for)} for the claim, {format_p(p_against)} against"
    if status == "inconclusive" and needed is not None:
        text += ". " + _needed_text(needed, unit, alpha)
    else:
        text += "."
    return Verdict(claim, status, text)


def _needed_text(needed: float, unit: str, alpha: float) -> str:
    if math.isinf(needed):
        return "No effect in the claim's direction was observed, so more runs alone would not settle it."
    amount = f"more than {MAX_NEEDED}" if needed > MAX_NEEDED else f"about {math.ceil(needed)}"
    return (
        f"If the observed effect were the true one, {amount} {unit} would give the test {POWER:.0%} "
        f"power at alpha = {alpha:g}."
    )


def holm(verdicts: Sequence[Verdict], alpha: float = ALPHA) -> list[Verdict]:
    """``verdicts`` with Holm's adjusted p-value and verdict (statsmodels' ``multipletests``)."""
    tested = [i for i, v in enumerate(verdicts) if not math.isnan(v.p_for)]
    out = [replace(v, status_holm=v.status) for v in verdicts]  # untested: inconclusive either way
    if not tested:
        return out
    p = [min(verdicts[i].p_for, verdicts[i].p_against) for i in tested]
    adjusted = multipletests(p, alpha=alpha, method="holm")[1]
    for i, q in zip(tested, adjusted, strict=True):
        v = verdicts[i]
        status: Status = "inconclusive"
        if q < alpha:
            status = "supports" if v.p_for <= v.p_against else "contradicts"
        out[i] = replace(v, p_holm=float(q), status_holm=status)
    return out
