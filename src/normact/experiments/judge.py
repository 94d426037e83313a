"""One judge for every claim: per-run metrics from a study's runs, the claim's test, Holm over a preset.

:func:`measure` reads a :class:`~normact.experiments.claims.Metric` off every run of a variant;
:func:`judge` applies each claim's pre-declared test (``normact.experiments.claims``) and the decision
rule of ``normact.experiments.verdict``, then Holm's step-down correction over the preset's claims.

The tests, all one-sided in the claim's direction and again in the opposite one:

- ``rank_sum``: the exact Wilcoxon-Mann-Whitney test of two independent arms (``stats.rank_sum_test``);
- ``fisher``: Fisher's exact test of two arms' counts of runs with the event (a 0/1 metric);
- ``signed_rank``: Wilcoxon's signed-rank test of paired values (two arms matched by seed, or one arm's
  runs against themselves on a ``baseline`` metric), by scipy with the exact permutation distribution
  (all 2^n sign flips up to n = 13, 9999 seeded resamples beyond);
- ``spearman``: Spearman's rho, its p-value from the permutation distribution (exact up to 9 points,
  9999 seeded resamples beyond). ``unit: arm`` correlates the arms' medians, so that arms, not runs, are
  the sample; ``unit: run`` correlates each run's value with a number fixed per arm (the factor the
  claim is about), a trend test whose null hypothesis, arms exchangeable, keeps runs independent.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from normact.experiments import stats
from normact.experiments.claims import Arm, Claim, Metric
from normact.experiments.results import StudyRuns
from normact.experiments.verdict import Verdict, decide, holm
from normact.train.config import with_overrides

__all__ = ["CustomMeasure", "Values", "arm_label", "judge", "judge_claim", "measure", "series"]

CustomMeasure = Callable[[StudyRuns, str], np.ndarray]  # (runs, variant) -> one number per run
RESAMPLES = 9999  # Monte Carlo permutations where exact enumeration would be too long
EXACT = 9  # Spearman's p enumerates all n! orders up to n = 9 (362880)


@dataclass(frozen=True)
class Values:
    """One number per run of an arm, with the runs' seeds and whether each diverged."""

    seeds: np.ndarray
    values: np.ndarray
    diverged: np.ndarray


def series(runs: StudyRuns, metric: Metric, variant: str) -> np.ndarray:
    """``(runs, epochs)``: the metric's stored series (``key``) or its layers combined per epoch."""
    if metric.key is not None:
        return runs.series(variant, metric.key)
    family = runs.family(variant, metric.family or "")
    if not family:
        return np.full((len(runs.runs[variant]), runs.epochs), np.nan)
    stack = np.stack(list(family.values()))  # (layers, runs, epochs)
    has = (~np.isnan(stack)).any(axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as wanted
        combined = {
            "mean": lambda s: np.nanmean(s, 0),
            "median": lambda s: np.nanmedian(s, 0),
            "abs_sum": lambda s: np.nansum(np.abs(s), 0),
            "abs_mean": lambda s: np.nanmean(np.abs(s), 0),
            "max": lambda s: np.nanmax(s, 0),
        }[metric.combine](stack)
    return np.where(has, combined, np.nan)


def measure(
    runs: StudyRuns, metric: Metric, variant: str, custom: Mapping[str, CustomMeasure] | None = None
) -> np.ndarray:
    """The metric of every run of ``variant`` (in seed order); NaN where a run has no value."""
    if metric.custom:
        if not custom or metric.name not in custom:
            raise ValueError(
                f"preset {runs.preset.name!r}: metric {metric.name!r} is custom but not registered"
            )
        return np.asarray(custom[metric.name](runs, variant), dtype=np.float64)
    threshold = metric.threshold
    if isinstance(threshold, str):
        threshold = float(runs.scale.analysis[threshold])
    out = []
    for row in series(runs, metric, variant):
        present = row[~np.isnan(row)]
        if metric.reduce == "first_reaching":
            out.append(stats.first_epoch_reaching(row, threshold))
        elif metric.reduce == "never_reaching":
            out.append(float(math.isinf(stats.first_epoch_reaching(row, threshold))))
        elif not present.size:
            out.append(math.nan)
        else:
            out.append({
                "last": present[-1], "max": present.max(), "min": present.min(), "mean": present.mean(),
                "first": row[0], "change": present[-1] - row[0],
            }[metric.reduce])  # fmt: skip
    return np.array(out, dtype=np.float64)


def arm_values(
    runs: StudyRuns, claim: Claim, metric: Metric, arm: Arm, custom: Mapping[str, CustomMeasure] | None
) -> Values:
    """The claim's numbers for one arm, the diverged runs counted as the claim says (claims module)."""

    def of(variant: str) -> Values:
        v = measure(runs, metric, variant, custom)
        div = np.array([r.status == "diverged" for r in runs.runs[variant]], dtype=bool)
        policy = claim.diverged_policy(metric)
        if policy == "exclude":
            v = np.where(div, np.nan, v)
        elif policy == "worst":
            worst = (
                1.0
                if metric.reduce == "never_reaching"
                else (math.inf if metric.better == "lower" else -math.inf)
            )
            v = np.where(div, worst, v)
        return Values(np.array([r.seed for r in runs.runs[variant]]), v, div)

    def part(v: str, w: str | None) -> Values:
        if w is None:
            return of(v)
        a, b = of(v), of(w)
        seeds = np.intersect1d(a.seeds, b.seeds)
        ia, ib = np.searchsorted(a.seeds, seeds), np.searchsorted(b.seeds, seeds)
        with np.errstate(invalid="ignore"):
            d = a.values[ia] - b.values[ib]
        both_worst = np.isinf(a.values[ia]) & (a.values[ia] == b.values[ib])
        return Values(seeds, np.where(both_worst, 0.0, d), a.diverged[ia] | b.diverged[ib])

    parts = [part(v, w) for v, w in arm.parts]
    return Values(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("seeds", "values", "diverged")))


def arm_label(arm: Arm, labels: Mapping[str, str]) -> str:
    """An arm as the report names it: ``NReLU``, ``Tanh Swap + Softsign Swap``, ``(Swap - Convention)``."""
    return " + ".join(
        f"({labels.get(v, v)} - {labels.get(w, w)})" if w else labels.get(v, v) for v, w in arm.parts
    )


def judge(
    runs: StudyRuns,
    claims: Sequence[Claim] | None = None,
    custom: Mapping[str, CustomMeasure] | None = None,
) -> list[Verdict]:
    """The verdict on every claim of the preset (default: all of them), Holm-adjusted over them."""
    claims = runs.preset.claims if claims is None else claims
    if not runs.scale.verdicts:
        return []
    return holm([judge_claim(runs, c, custom) for c in claims if c.applies(runs.runs)])


def judge_claim(runs: StudyRuns, claim: Claim, custom: Mapping[str, CustomMeasure] | None = None) -> Verdict:
    """The verdict on one claim from the runs of one scale (module docstring)."""
    metric = runs.preset.metrics[claim.metric]
    labels = runs.preset.labels
    policy = claim.diverged_policy(metric)
    extra = {"paper": claim.paper, "confounded": claim.confounded, "diverged": policy}
    if claim.test == "spearman":
        return _correlation(runs, claim, metric, custom, extra)
    if claim.baseline is not None:
        arm = claim.arms[0]
        before = runs.preset.metrics[claim.baseline]
        a, b = arm_values(runs, claim, metric, arm, custom), arm_values(runs, claim, before, arm, custom)
        names = (f"{arm_label(arm, labels)} {metric.title}", f"{arm_label(arm, labels)} {before.title}")
    else:
        a, b = (arm_values(runs, claim, metric, arm, custom) for arm in claim.arms)
        names = tuple(arm_label(arm, labels) for arm in claim.arms)
    shown = (
        f"{metric.title} per run: {names[0]} {_list(a.values, metric)}, {names[1]} {_list(b.values, metric)}"
    )
    x, y = a.values[~np.isnan(a.values)], b.values[~np.isnan(b.values)]
    if claim.baseline is not None:  # the same runs in the same order: pairs by position
        keep = ~(np.isnan(a.values) | np.isnan(b.values))
        x, y = a.values[keep], b.values[keep]
    elif claim.test == "signed_rank":  # two single-variant arms: pairs by seed
        seeds = np.intersect1d(a.seeds[~np.isnan(a.values)], b.seeds[~np.isnan(b.values)])
        x, y = a.values[np.searchsorted(a.seeds, seeds)], b.values[np.searchsorted(b.seeds, seeds)]
    if not (x.size and y.size):
        return Verdict(claim.text, "inconclusive", shown + ": no runs with values to test.", **extra)
    if claim.test == "rank_sum":
        p_for = stats.rank_sum_test(x, y, claim.direction)
        p_against = stats.rank_sum_test(x, y, _opposite(claim.direction))
        sup = stats.probability_of_superiority(*((x, y) if claim.direction == "less" else (y, x)))
        what, needed = "exact rank-sum test", stats.n_for_rank_sum(sup)
        if any(len(arm.parts) > 1 for arm in claim.arms):
            what += " on the arms' pooled runs"
    elif claim.test == "fisher":
        k_a, k_b = int(x.sum()), int(y.sum())
        p_for = stats.fisher_exact(k_a, x.size, k_b, y.size, claim.direction)
        p_against = stats.fisher_exact(k_a, x.size, k_b, y.size, _opposite(claim.direction))
        low, high = (
            (k_a / x.size, k_b / y.size) if claim.direction == "less" else (k_b / y.size, k_a / x.size)
        )
        shown = f"{metric.title}: {names[0]} {k_a}/{x.size} runs, {names[1]} {k_b}/{y.size}"
        what, needed = "one-sided Fisher's exact test", stats.n_for_fisher(low, high)
    else:
        p_for, p_against = _signed_rank(x, y, claim.direction)
        what, needed = f"Wilcoxon's signed-rank test on {x.size} pairs (exact permutation)", None
    evidence = f"{shown}; medians {_fmt(np.median(x), metric)} vs {_fmt(np.median(y), metric)}; {what}"
    return _decided(claim, p_for, p_against, evidence, needed, extra)


def _correlation(
    runs: StudyRuns, claim: Claim, metric: Metric, custom: Mapping[str, CustomMeasure] | None, extra: dict
) -> Verdict:
    variants = [v for arm in claim.arms for v in arm.variants] if claim.arms else runs.complete_variants()
    variants = [v for v in variants if runs.runs.get(v)]
    xs, ys, shown = [], [], []
    for v in variants:
        y = arm_values(runs, claim, metric, Arm.of(v), custom).values
        if isinstance(claim.x, Mapping):
            x = np.full(y.size, _arm_x(runs, claim.x, v))
        else:
            x = arm_values(runs, claim, runs.preset.metrics[str(claim.x)], Arm.of(v), custom).values
        if claim.unit == "arm":  # each summary over the runs that have that number
            x, y = x[~np.isnan(x)], y[~np.isnan(y)]
            if not (x.size and y.size):
                continue
            x, y = np.array([np.median(x)]), np.array([np.median(y)])
        keep = ~(np.isnan(x) | np.isnan(y))
        x, y = x[keep], y[keep]
        if not y.size:
            continue
        xs.append(x)
        ys.append(y)
        mx, my = _fmt(float(np.median(x)), None), _fmt(float(np.median(y)), metric)
        shown.append(f"{runs.preset.label(v)} {mx} / {my}")
    x, y = (np.concatenate(s) if s else np.array([]) for s in (xs, ys))
    xtitle = runs.preset.metrics[claim.x].title if isinstance(claim.x, str) else _x_title(claim.x)
    evidence = f"x = {xtitle}, y = {metric.title}; median x / y per arm: {', '.join(shown)}"
    n_unit = "arms (their medians)" if claim.unit == "arm" else "runs (x fixed per arm)"
    if x.size < 3 or len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return Verdict(
            claim.text, "inconclusive", evidence + f": too few {n_unit.split()[0]} to test.", **extra
        )
    rho = float(sps.spearmanr(x, y).statistic)
    p_for, p_against = (_spearman_p(x, y, d) for d in (claim.direction, _opposite(claim.direction)))
    exact = "exact" if x.size <= EXACT else f"{RESAMPLES} seeded resamples"
    evidence += f"; Spearman's rho = {rho:.3f} over {x.size} {n_unit}, permutation p ({exact})"
    sign = 1 if claim.direction == "greater" else -1
    needed = stats.n_for_correlation(sign * rho) if claim.unit == "run" else None
    return _decided(
        claim, p_for, p_against, evidence, needed, extra, "runs" if claim.unit == "run" else "arms"
    )


def _x_title(x: Mapping) -> str:
    if "values" in x:
        return "the arm's value (" + ", ".join(f"{k} {v:g}" for k, v in x["values"].items()) + ")"
    path = x["config"]
    return "the config's " + (".".join(path) if isinstance(path, list) else str(path))


def _arm_x(runs: StudyRuns, x: Mapping, variant: str) -> float:
    if "values" in x:
        return float(x["values"][variant])
    value: object = with_overrides(runs.base, runs.variant_overrides()[variant])
    path = x["config"]  # a dotted key, or a list of keys where a key holds a dot
    for part in path if isinstance(path, list) else str(path).split("."):
        value = value[part] if isinstance(value, Mapping) else getattr(value, part)
    return float(value)  # type: ignore[arg-type]


def _spearman_p(x: np.ndarray, y: np.ndarray, alternative: str) -> float:
    """Permutation p-value of Spearman's rho: y's order permuted against x (all n! orders up to n = 9)."""
    rx = sps.rankdata(x)
    rx = rx - rx.mean()

    def rho(b: np.ndarray, axis: int = -1) -> np.ndarray:
        rb = sps.rankdata(b, axis=axis)
        rb = rb - rb.mean(axis=axis, keepdims=True)
        r = (rx * rb).sum(axis=axis) / np.sqrt((rx * rx).sum() * (rb * rb).sum(axis=axis))
        return np.round(r, 12)  # equal rankings give equal rho, whatever the order of the sums

    res = sps.permutation_test(
        (y,), rho, permutation_type="pairings", vectorized=True,
        n_resamples=np.inf if y.size <= EXACT else RESAMPLES,
        alternative=alternative, rng=np.random.default_rng(0),
    )  # fmt: skip
    return float(res.pvalue)


def _signed_rank(x: np.ndarray, y: np.ndarray, direction: str) -> tuple[float, float]:
    with np.errstate(invalid="ignore"):
        d = x - y
    d = np.where(np.isnan(d), 0.0, d)  # both worst (diverged on both sides): a tie
    if not np.any(d != 0):
        return 1.0, 1.0
    finite = np.where(np.isinf(d), np.sign(d) * (np.abs(d[np.isfinite(d)]).max(initial=0) + 1), d)
    method = sps.PermutationMethod(n_resamples=RESAMPLES, rng=np.random.default_rng(0))
    p = [
        float(sps.wilcoxon(finite, alternative=a, method=method).pvalue)
        for a in (direction, _opposite(direction))
    ]
    return p[0], p[1]


def _decided(
    claim: Claim, p_for: float, p_against: float, evidence: str, needed: float | None, extra: dict,
    unit: str = "runs per arm",
) -> Verdict:  # fmt: skip
    v = decide(claim.text, p_for, p_against, evidence, needed, unit)
    return Verdict(v.claim, v.status, v.evidence, p_for=p_for, p_against=p_against, **extra)


def _opposite(direction: str) -> str:
    return "less" if direction == "greater" else "greater"


def _fmt(v: float, metric: Metric | None) -> str:
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if metric is None:
        return f"{v:.4g}"
    return f"{v * metric.scale:.{metric.digits}f}"


def _list(values: np.ndarray, metric: Metric) -> str:
    return "[" + ", ".join("–" if math.isnan(v) else _fmt(float(v), metric) for v in values) + "]"
