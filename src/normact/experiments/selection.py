"""Select, then test: a scale's grid of hyper-parameters per arm, picked on selection seeds.

A scale of a preset may tune its arms before it tests them, as a paper that searched a grid per model
did::

    scales:
      full:
        seeds: 4                                   # the test seeds 0 .. 3
        select:
          grid: {optim.lr: [0.1, 0.01], optim.weight_decay: [5.0e-3, 1.0e-4]}   # dotted key -> values
          seeds: [100, 101, 102]                   # selection seeds, disjoint from the test seeds
          metric: accuracy                         # one of the preset's metrics (not a custom one)
          better: higher                           # optional: the metric's own direction
          variants: ["tanh_*"]                     # optional: globs of the arms tuned (default: every arm)

Every tuned arm runs every point of the grid (the product of the values, in file order) on every
selection seed, as ordinary runs of the study named ``<arm>@<key>=<value>,...``. The pick of an arm
is the point with the best mean of ``metric`` over the selection seeds, a diverged run counted as the
worst value, so a point with one is never picked unless every point has one; then the point with the
fewest diverged runs wins, and among those the best mean of the runs that did not diverge. A tie goes
to the earlier point. An arm whose selection runs are not all complete (finished or diverged) has no pick,
and its test runs wait for one. The test runs of a tuned arm are its own overrides, then the pick's.
Selection runs never enter a verdict; the report lists the grid, the seeds and every point's mean.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from normact.experiments.claims import Metric, check_fields
from normact.train.config import ConfigError

__all__ = ["Choice", "Point", "Selection", "choose", "parse_selection"]

_KEYS = ("grid", "seeds", "metric", "better", "variants")


@dataclass(frozen=True)
class Selection:
    """A scale's selection protocol (module docstring)."""

    grid: dict[str, list[Any]]  # dotted config key -> the values tried
    seeds: tuple[int, ...]
    metric: str
    better: str  # higher | lower
    variants: tuple[str, ...] = ("*",)  # globs of the tuned arms

    def points(self) -> list[dict[str, Any]]:
        """Every point of the grid as dotted overrides, the first key's values varying slowest."""
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.grid.values())]

    def tuned(self, variants: Sequence[str]) -> list[str]:
        """The arms among ``variants`` that a glob of ``variants`` names, in their order."""
        return [v for v in variants if any(fnmatch.fnmatchcase(v, g) for g in self.variants)]

    def describe(self) -> str:
        """The grid, the rule and the seeds in one sentence."""
        grid = " x ".join(f"{k} in {{{', '.join(f'{v:g}' if _number(v) else str(v) for v in vs)}}}"
                          for k, vs in self.grid.items())  # fmt: skip
        return (
            f"{grid} ({len(self.points())} points), each on selection seeds "
            f"{', '.join(map(str, self.seeds))}; the pick: the best mean {self.metric} "
            f"({self.better} is better), a diverged run counted as the worst value (if every point has "
            "one: the fewest diverged runs, then the best mean of the others), a tie to the earlier point"
        )


def point_name(arm: str, point: Mapping[str, Any]) -> str:
    """The variant name of ``arm``'s selection runs at ``point``: ``arm@key=value,...``."""
    return arm + "@" + ",".join(f"{k}={v:g}" if _number(v) else f"{k}={v}" for k, v in point.items())


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Point:
    """One point of an arm's grid: its overrides and its selection runs' values, by seed.

    ``values`` holds one number per selection seed (a diverged run as the worst value, NaN where the
    run is not complete); ``missing`` the seeds without a complete run and their status.
    """

    overrides: dict[str, Any]
    values: np.ndarray
    diverged: int
    missing: tuple[tuple[int, str], ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def mean(self) -> float:
        """The mean over the selection seeds (the worst value if a run diverged); NaN while one is missing."""
        return float(np.mean(self.values)) if self.complete and self.values.size else math.nan

    @property
    def mean_not_diverged(self) -> float:
        """The mean over the selection runs that did not diverge; NaN while one is missing or if all did."""
        kept = self.values[np.isfinite(self.values)]
        return float(np.mean(kept)) if self.complete and kept.size else math.nan


@dataclass(frozen=True)
class Choice:
    """An arm's grid with its selection results and the pick (None while a run is missing)."""

    arm: str
    points: tuple[Point, ...]
    pick: int | None

    @property
    def picked(self) -> Point | None:
        return None if self.pick is None else self.points[self.pick]


def choose(arm: str, points: Sequence[Point], better: str) -> Choice:
    """The arm's pick: the complete grid's point of fewest diverged runs, then of best mean of the others,
    the earlier one on a tie (module docstring)."""
    if not points or not all(p.complete for p in points):
        return Choice(arm, tuple(points), None)
    sign = 1.0 if better == "higher" else -1.0

    def rank(i: int) -> tuple[int, float, int]:
        mean = points[i].mean_not_diverged  # NaN when every run of the point diverged: below any mean
        return -points[i].diverged, -math.inf if math.isnan(mean) else sign * mean, -i

    return Choice(arm, tuple(points), max(range(len(points)), key=rank))


def parse_selection(
    raw: Any, at: str, metrics: Mapping[str, Metric], variants: Sequence[str], test_seeds: int
) -> Selection:
    """A scale's ``select`` field; errors name ``at`` (preset and scale), the field and what is valid."""
    at = f"{at}, select"
    check_fields(raw, _KEYS, at, required=("grid", "seeds", "metric"))
    grid = raw["grid"]
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"{at}: grid must map dotted config keys to lists of values, got {grid!r}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{at}: grid {key!r} must be a non-empty list of values, got {values!r}")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"{at}: grid {key!r} repeats a value: {values!r}")
    seeds = raw["seeds"]
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ConfigError(f"{at}: seeds must be a list of distinct integers >= 0, got {seeds!r}")
    shared = sorted(set(seeds) & set(range(test_seeds)))
    if shared:
        raise ConfigError(
            f"{at}: seeds {shared} are test seeds too (the scale tests seeds 0-{test_seeds - 1}); "
            "selection seeds must be disjoint from them"
        )
    name = raw["metric"]
    if name not in metrics:
        raise ConfigError(f"{at}: metric {name!r} is not one of the preset's metrics {list(metrics)}")
    metric = metrics[name]
    if metric.custom:
        raise ConfigError(
            f"{at}: metric {name!r} is custom (computed by the preset's analysis); choose a stored one: "
            f"{[m for m, spec in metrics.items() if not spec.custom]}"
        )
    better = raw.get("better", metric.better)
    if better not in ("higher", "lower"):
        raise ConfigError(
            f"{at}: better {better!r} is not one of ['higher', 'lower'] (metric {name!r} names no direction)"
        )
    globs = raw.get("variants", ["*"])
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs) or not globs:
        raise ConfigError(f"{at}: variants must be a list of variant-name globs, got {globs!r}")
    for glob in globs:
        if not any(fnmatch.fnmatchcase(v, glob) for v in variants):
            raise ConfigError(f"{at}: variants {glob!r} matches no variant; variants: {list(variants)}")
    return Selection(
        grid={str(k): list(v) for k, v in grid.items()},
        seeds=tuple(seeds),
        metric=name,
        better=better,
        variants=tuple(globs),
    )
