"""Claims as data: the per-run metrics and the claims of a preset, read from its YAML and checked on load.

A preset's YAML names the numbers it measures on every run and the claims it judges with them::

    metrics:                                  # one number per run, from the stored per-epoch series
      epochs_to: {key: test_acc, reduce: first_reaching, threshold: threshold, better: lower}
      score: {key: score, reduce: mean}
      weights: {family: weight_mean/, combine: abs_sum, reduce: last, better: lower}
      init_mu: {custom: true}                 # computed by the preset's own Python (register_analysis)
    claims:
      - text: NReLU converges faster than ReLU
        paper: "Table 1: 0 of 25 NReLU runs under 98 % at epoch 5, 19 of 25 ReLU runs"
        metric: epochs_to
        arms: [nrelu, relu]                   # compare the first arm with the second
        direction: less                       # the claim: the first arm's values are lower
        test: rank_sum                        # rank_sum | signed_rank | fisher | spearman
        paired: false                         # signed_rank: true (runs matched by seed)
        confounded: different initialisations  # what else differs between the arms, if anything
      - text: The Score is inversely related to the speed of convergence
        test: spearman
        metric: epochs_to                     # y
        x: score                              # x: a metric, {values: {arm: number}} or {config: dotted.key}
        arms: all
        unit: arm                             # correlate the arms' medians (unit: run only for x by arm)
        direction: greater                    # the sign of rho the claim predicts

An arm is a variant, a list of variants (their runs pooled: a group of runs) or ``"a - b"``, the per-seed
difference of two variants. ``baseline: metric`` with one arm and ``signed_rank`` compares two numbers of
the same runs (e.g. after training against at initialisation).

What a diverged run counts as (``diverged``): by default ``worst`` when the metric says which way is
better (the worst possible value: it ranks last, counts as never reaching a threshold) and ``exclude``
(left out) when it does not; ``last`` keeps the value of its last finite epoch. A claim may set another
choice; the report says which.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from normact.train.config import ConfigError

__all__ = [
    "REDUCES",
    "TESTS",
    "Arm",
    "Claim",
    "Metric",
    "min_p",
    "parse_claims",
    "parse_metrics",
    "validate_claim",
]

REDUCES = ("last", "max", "min", "mean", "first", "change", "first_reaching", "never_reaching")
COMBINES = ("mean", "median", "abs_sum", "abs_mean", "max")
TESTS = ("rank_sum", "signed_rank", "fisher", "spearman")
DIVERGED = ("worst", "exclude", "last")
_METRIC_KEYS = (
    "key",
    "family",
    "combine",
    "reduce",
    "threshold",
    "better",
    "label",
    "scale",
    "digits",
    "custom",
)
_CLAIM_KEYS = ("text", "paper", "metric", "baseline", "arms", "x", "direction", "test", "paired", "unit",
               "diverged", "confounded")  # fmt: skip


@dataclass(frozen=True)
class Metric:
    """How one number per run is read from its stored per-epoch series.

    ``key`` (one stored metric) or ``family`` (every metric ``family<name>``, combined per epoch by
    ``combine``) gives a series over epochs; ``reduce`` turns it into one number: its ``last``, ``max``,
    ``min`` or ``mean`` over the epochs with a value, its ``first`` epoch's value, the ``change`` from
    the first to the last, the ``first_reaching`` epoch at which it is >= ``threshold`` (inf: never) or
    ``never_reaching`` (1 when it never does, else 0). ``custom``: the preset's Python computes it.
    """

    name: str
    key: str | None = None
    family: str | None = None
    combine: str = "mean"
    reduce: str = "last"
    threshold: float | str | None = None  # a number, or the name of a setting of the scale's analysis
    better: str | None = None  # higher | lower | None (no better direction)
    label: str = ""
    scale: float = 1.0  # shown values are multiplied by it (100: percent)
    digits: int = 3
    custom: bool = False

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: the pooled runs of its parts, each a variant ``(v, None)`` or the
    per-seed difference of two variants ``(v, w)``: v's value minus w's for each seed both have."""

    parts: tuple[tuple[str, str | None], ...]

    @property
    def variants(self) -> tuple[str, ...]:
        """The variants whose runs the arm's values come from (the first of each difference)."""
        return tuple(v for v, _ in self.parts)

    @property
    def names(self) -> tuple[str, ...]:
        """Every variant the arm reads."""
        return tuple(n for v, w in self.parts for n in ((v, w) if w else (v,)))

    @property
    def paired(self) -> bool:
        return any(w for _, w in self.parts)

    def __str__(self) -> str:
        return " + ".join(f"({v} - {w})" if w else v for v, w in self.parts)

    @classmethod
    def of(cls, variant: str) -> Arm:
        return cls(((variant, None),))


@dataclass(frozen=True)
class Claim:
    """One claim of a paper and the one pre-declared test that judges it (module docstring)."""

    text: str
    metric: str
    test: str
    direction: str  # greater | less
    arms: tuple[Arm, ...] = ()  # () with test spearman: every variant of the scale
    paper: str = ""
    baseline: str | None = None  # same runs, another metric: before/after (signed_rank)
    x: str | Mapping[str, Any] | None = None  # spearman: a metric, {values: {...}} or {config: key}
    paired: bool = False
    unit: str = "run"  # run | arm
    diverged: str | None = None  # None: the default for the metric (module docstring)
    confounded: str = ""

    def applies(self, variants: Iterable[str]) -> bool:
        """Whether a scale with these variants runs every arm of the claim (else it is not judged there)."""
        have = set(variants)
        return all(n in have for arm in self.arms for n in arm.names)

    def diverged_policy(self, metric: Metric) -> str:
        """What a diverged run counts as under this claim (module docstring)."""
        return self.diverged or ("worst" if metric.better else "exclude")


def parse_metrics(raw: Any, where: str) -> dict[str, Metric]:
    """The ``metrics`` section of a preset's YAML; errors name ``where`` (the preset) and the field."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: metrics must map names to metric specs, got {raw!r}")
    out = {}
    for name, spec in raw.items():
        at = f"{where}, metric {name!r}"
        check_fields(spec, _METRIC_KEYS, at)
        if bool(spec.get("custom")) == ("key" in spec or "family" in spec):
            raise ConfigError(f"{at}: give exactly one of key, family or custom: true")
        m = Metric(name=str(name), **{k: v for k, v in spec.items()})
        _choice(m.reduce, REDUCES, at, "reduce")
        _choice(m.combine, COMBINES, at, "combine")
        if m.better is not None:
            _choice(m.better, ("higher", "lower"), at, "better")
        if m.reduce in ("first_reaching", "never_reaching") and m.threshold is None:
            raise ConfigError(f"{at}: reduce {m.reduce!r} needs a threshold (a number or a setting's name)")
        out[m.name] = m
    return out


def parse_claims(
    raw: Any,
    where: str,
    metrics: Mapping[str, Metric],
    variants: Mapping[str, Mapping[str, Mapping]] | None = None,
) -> tuple[Claim, ...]:
    """The ``claims`` section of a preset's YAML, checked against its metrics (and variants: scale ->
    that scale's variants and their overrides; the preset's registration checks them); errors name
    ``where`` (the preset), the claim and the field."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: claims must be a non-empty list of claims, got {raw!r}")
    out = []
    for i, spec in enumerate(raw):
        text = spec.get("text") if isinstance(spec, Mapping) else None
        at = f"{where}, claim {i + 1} ({text!r})" if text else f"{where}, claim {i + 1}"
        check_fields(spec, _CLAIM_KEYS, at, required=("text", "metric", "test", "direction"))
        claim = Claim(
            text=" ".join(str(spec["text"]).split()),
            metric=str(spec["metric"]),
            test=str(spec["test"]),
            direction=str(spec["direction"]),
            arms=_arms(spec.get("arms"), at),
            paper=" ".join(str(spec.get("paper", "")).split()),
            baseline=spec.get("baseline"),
            x=spec.get("x"),
            paired=bool(spec.get("paired", spec["test"] == "signed_rank")),
            unit=str(spec.get("unit", "run")),
            diverged=spec.get("diverged"),
            confounded=" ".join(str(spec.get("confounded", "")).split()),
        )
        validate_claim(claim, at, metrics, variants or {})
        out.append(claim)
    return tuple(out)


def _arms(raw: Any, at: str) -> tuple[Arm, ...]:
    if raw is None or raw == "all":
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{at}: arms must be a list of variants (or 'all'), got {raw!r}")

    def part(text: Any) -> tuple[str, str | None]:
        if isinstance(text, str) and " - " in text:
            a, b = (s.strip() for s in text.split(" - "))
            return a, b
        return str(text), None

    return tuple(Arm(tuple(part(p) for p in (arm if isinstance(arm, list) else [arm]))) for arm in raw)


def validate_claim(
    c: Claim, at: str, metrics: Mapping[str, Metric], variants: Mapping[str, Mapping[str, Mapping]]
) -> None:
    """Check one claim; ``variants``: scale -> its variants (module docstring); errors start with ``at``."""
    _choice(c.test, TESTS, at, "test")
    _choice(c.direction, ("greater", "less"), at, "direction")
    _choice(c.unit, ("run", "arm"), at, "unit")
    for field, name in (("metric", c.metric), ("baseline", c.baseline)):
        if name is not None and name not in metrics:
            raise ConfigError(
                f"{at}: {field} {name!r} is not a metric of the preset; metrics: {list(metrics)}"
            )
    metric = metrics[c.metric]
    if c.diverged is not None:
        _choice(c.diverged, DIVERGED, at, "diverged")
        if c.diverged == "worst" and metric.better is None:
            raise ConfigError(f"{at}: diverged 'worst' needs a metric that says which way is better")
    every = {v for named in variants.values() for v in named}
    for arm in c.arms:
        for v in arm.names:
            if variants and v not in every:
                raise ConfigError(f"{at}: arms: unknown variant {v!r}; variants: {sorted(every)}")
    variants = {s: named for s, named in variants.items() if c.applies(named)}  # scales that judge it
    if c.test == "spearman":
        _validate_correlation(c, at, metrics, variants)
    elif c.baseline is not None:
        if c.test != "signed_rank" or len(c.arms) != 1:
            raise ConfigError(
                f"{at}: baseline compares one arm's runs with themselves: test signed_rank, one arm"
            )
    elif len(c.arms) != 2:
        raise ConfigError(f"{at}: arms: test {c.test!r} compares exactly two arms, got {len(c.arms)}")
    elif c.test == "signed_rank" and any(len(arm.parts) > 1 or arm.paired for arm in c.arms):
        raise ConfigError(f"{at}: arms: a paired test matches two single variants' runs by seed")
    if c.test == "signed_rank" and not c.paired:
        raise ConfigError(f"{at}: paired: the signed-rank test is a paired test; set paired: true")
    if c.paired and c.test not in ("signed_rank",):
        raise ConfigError(f"{at}: paired: test {c.test!r} is for independent samples; use signed_rank")
    if c.paired or any(arm.paired for arm in c.arms):
        _check_shared_seeds(c, at, variants)
    if c.test == "fisher" and metric.reduce != "never_reaching":
        raise ConfigError(f"{at}: test fisher counts runs: its metric must have reduce never_reaching")


def _validate_correlation(
    c: Claim, at: str, metrics: Mapping[str, Metric], variants: Mapping[str, Mapping[str, Mapping]]
) -> None:
    if c.x is None:
        raise ConfigError(f"{at}: x: a correlation needs x (a metric, {{values: ...}} or {{config: key}})")
    by_arm = isinstance(c.x, Mapping)
    if by_arm:
        if set(c.x) not in ({"values"}, {"config"}):
            raise ConfigError(
                f"{at}: x must be a metric's name, {{values: {{arm: number}}}} or {{config: key}}"
            )
        if "values" in c.x:
            for scale, named in variants.items():
                missing = [v for v in _arm_variants(c, named) if v not in c.x["values"]]
                if missing:
                    raise ConfigError(f"{at}: x: values has no number for variant {missing[0]!r} ({scale})")
    elif c.x not in metrics:
        raise ConfigError(f"{at}: x {c.x!r} is not a metric of the preset; metrics: {list(metrics)}")
    if c.unit == "run" and not by_arm:
        raise ConfigError(
            f"{at}: unit: two measured metrics correlate across arms only on arm-level summaries; "
            "set unit: arm"
        )
    for scale, named in variants.items():
        n = len(_arm_variants(c, named))
        if n < 3:
            raise ConfigError(f"{at}: arms: a correlation needs at least 3 arms, scale {scale!r} has {n}")


def _arm_variants(c: Claim, named: Mapping[str, Any]) -> list[str]:
    return [v for arm in c.arms for v in arm.variants] if c.arms else list(named)


def _check_shared_seeds(c: Claim, at: str, variants: Mapping[str, Mapping[str, Mapping]]) -> None:
    """Paired arms must share seeds and data order: no arm may set its own seed or data."""
    for scale, named in variants.items():
        for arm in c.arms:
            for v in arm.names:
                own = [k for k in named[v] if k == "train.seed" or k.startswith("data.")]
                if own:
                    raise ConfigError(
                        f"{at}: paired: variant {v!r} sets {own[0]} at scale {scale!r}, so its runs do not "
                        "share seeds and data order with the other arm's"
                    )


def min_p(c: Claim, seeds: int, n_arms: int) -> float:
    """The smallest one-sided p-value the claim's test can reach with ``seeds`` runs per variant.

    The seed-count rule: every claim of a scale must be able to reach p < 0.05, e.g. the exact rank-sum
    test of two arms of 3 runs cannot (1 / C(6, 3) = 0.05), of 4 runs can (1 / C(8, 4) = 0.014).
    """
    if c.test == "spearman":  # runs tied in x within an arm: 1 / multinomial(n; seeds, ..., seeds)
        if c.unit == "arm":
            return 1 / math.factorial(n_arms)
        return math.factorial(seeds) ** n_arms / math.factorial(n_arms * seeds)
    if c.test == "signed_rank":  # one pair per seed (per seed and part, against a baseline)
        return 0.5 ** (seeds * (len(c.arms[0].parts) if c.baseline else 1))
    sizes = [seeds * len(arm.parts) for arm in c.arms]
    return 1 / math.comb(sum(sizes), sizes[0])  # rank-sum and Fisher's test alike


def check_fields(
    raw: Any, valid: Iterable[str], at: str, required: Iterable[str] = (), noun: str = "field"
) -> None:
    """Raise a ``ConfigError`` naming ``at`` unless ``raw`` is a mapping of ``valid`` names holding every
    ``required`` one (``noun`` is what the messages call a name: field, key)."""
    valid = tuple(valid)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{at} must be a mapping, got {raw!r}")
    unknown = [k for k in raw if k not in valid]
    if unknown:
        raise ConfigError(f"{at}: unknown {noun} {unknown[0]!r}; valid {noun}s: {', '.join(valid)}")
    missing = [k for k in required if k not in raw]
    if missing:
        raise ConfigError(f"{at}: missing {noun} {missing[0]!r}")


def _choice(value: Any, valid: tuple[str, ...], at: str, field: str) -> None:
    if value not in valid:
        raise ConfigError(f"{at}: {field} {value!r} is not one of {list(valid)}")
