"""A preset's runs as found in the results store: per variant, per seed, metrics as per-epoch arrays.

Only runs whose config hash is the one the preset gives today for that scale, variant and seed, so
runs of an older version of a preset, or of another scale, never mix into a report. Runs that are
``finished`` or ``diverged`` are complete; a ``running`` or ``failed`` run, or one never started, is
reported as missing. The seeds judged are the scale's (0 .. seeds - 1); complete runs of other seeds
are listed as exploratory and never change a verdict.

``write_runs_csv`` exports the runs to one CSV row per run (study, scale, variant, seed, config hash,
status, the epoch it diverged at, times, then every stored metric as ``key@epoch``, epoch 0 the
initial model's probes) and
``read_runs_csv`` reads it back into the same :class:`StudyRuns`, so a report can be rebuilt and
re-checked without the store.

A scale that selects (``normact.experiments.selection``) has its selection runs read first: they give
each tuned arm's pick, and so the configs, hence the hashes, of its test runs. They are kept apart in
``StudyRuns.selection`` (and written to ``runs.csv`` beside the test runs), never among the runs judged;
a tuned arm without a pick has its test runs missing as ``awaiting selection``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from normact.experiments.preset import Preset, Scale
from normact.experiments.selection import Choice, Point, Selection, choose, point_name
from normact.train.config import Config, config_hash
from normact.train.store import DONE_STATUSES, ResultsStore
from normact.train.sweep import Sweep

__all__ = ["RunData", "StudyRuns", "choices", "collect_runs", "read_runs_csv", "write_runs_csv"]


@dataclass(frozen=True)
class RunData:
    """One complete run: its status and every stored metric as an array over epochs 1..E."""

    variant: str
    seed: int
    run_id: int
    status: str  # finished | diverged
    diverged_epoch: int | None
    metrics: dict[str, np.ndarray]  # key -> values of epochs 1..epochs_done
    initial: dict[str, float] = field(default_factory=dict)  # the probes of the initial model (epoch 0)
    config_hash: str = ""
    created_at: str = ""
    finished_at: str = ""


@dataclass
class StudyRuns:
    """The runs of one preset at one scale, in the preset's variant order."""

    preset: Preset
    scale: Scale
    base: Config  # the scale's run config before the variants' overrides
    epochs: int  # epochs each run was configured for
    seeds: list[int]
    runs: dict[str, list[RunData]]  # variant -> its complete runs, by seed
    missing: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # variant -> (seed, status)
    compute_seconds: float = 0.0  # sum of every stored epoch's wall time
    wall_seconds: float | None = None  # time while at least one run was in progress (busy_seconds)
    exploratory: dict[str, list[int]] = field(default_factory=dict)  # variant -> seeds beyond the scale's
    selection: dict[str, Choice] = field(default_factory=dict)  # tuned arm -> its grid, results and pick
    selection_runs: StudyRuns | None = None  # the selection runs (variants ``arm@key=value,...``)

    @property
    def picks(self) -> dict[str, dict[str, Any]]:
        """Tuned arm -> the overrides it was picked with (arms still without a pick are left out)."""
        return picks_of(self.selection)

    def variant_overrides(self) -> dict[str, dict[str, Any]]:
        """Every variant's overrides as its test runs were made: its own, then its pick's."""
        return self.preset.variants_of(self.scale.name, self.picks)

    @property
    def variants(self) -> list[str]:
        return list(self.runs)

    @property
    def n_runs(self) -> int:
        return sum(len(r) for r in self.runs.values())

    @property
    def n_missing(self) -> int:
        return sum(len(m) for m in self.missing.values())

    def complete_variants(self) -> list[str]:
        """The variants with at least one complete run; none at all is an error naming the study."""
        present = [v for v, runs in self.runs.items() if runs]
        if not present:
            raise ValueError(f"no complete run of {self.preset.name} at scale {self.scale.name} in the store")
        return present

    def count_text(self, noun: str = "variants") -> str:
        """The report's first sentence: complete runs, per ``noun`` (variant), seeds and epochs."""
        sizes = sorted({len(self.runs[v]) for v in self.complete_variants()})
        each = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
        return (
            f"{self.n_runs} complete runs ({len(self.complete_variants())} {noun}, {each} runs each; "
            f"seeds {self.seeds[0]}-{self.seeds[-1]}), {self.epochs} epochs each."
        )

    def status_text(self, label: Callable[[str], str] = str) -> str:
        """The report's sentences on missing runs (``label`` names a variant) and on the time taken."""
        parts = []
        if self.n_missing:
            missing = "; ".join(
                f"{label(v)}: " + ", ".join(f"seed {s} ({status})" for s, status in m)
                for v, m in self.missing.items()
            )
            are = "run is" if self.n_missing == 1 else "runs are"
            parts.append(f"**{self.n_missing} {are} missing** and left out: {missing}.")
        if self.exploratory:
            extra = "; ".join(
                f"{label(v)} seeds {', '.join(map(str, s))}" for v, s in self.exploratory.items()
            )
            parts.append(
                f"The store also holds exploratory runs outside the scale's seeds ({extra}); they are not "
                "part of any table or verdict."
            )
        text = f"Training took {self.compute_seconds / 60:.1f} min of compute (sum of epoch times)"
        if self.wall_seconds is not None:
            wall = self.wall_seconds / 60
            text += f", {wall:.1f} min wall-clock while runs were in progress"
        return " ".join([*parts, text + "."])

    def series(self, variant: str, key: str) -> np.ndarray:
        """``(runs, epochs)`` array of metric ``key``; NaN where a run has none (e.g. after divergence)."""
        runs = self.runs[variant]
        out = np.full((len(runs), self.epochs), np.nan)
        for i, run in enumerate(runs):
            values = run.metrics.get(key)
            if values is not None:
                out[i, : values.size] = values[: self.epochs]
        return out

    def family(self, variant: str, prefix: str) -> dict[str, np.ndarray]:
        """``{name: (runs, epochs) array}`` of every metric ``prefix/name`` (e.g. ``weight_mean/``)."""
        names = sorted(
            {k[len(prefix) :] for run in self.runs[variant] for k in run.metrics if k.startswith(prefix)}
        )
        return {name: self.series(variant, prefix + name) for name in names}


def collect_runs(
    preset: Preset, scale: str, store: str | Path | ResultsStore, seeds: int | None = None
) -> StudyRuns:
    """The complete runs of ``preset`` at ``scale`` in ``store``.

    Args:
        seeds: judge seeds ``0 .. seeds - 1`` (default: the scale's count); complete runs of other
            seeds are listed in ``exploratory``.
    """
    sc = preset.scale(scale)  # an unknown scale is reported before anything is read
    results = store if isinstance(store, ResultsStore) else ResultsStore(store)
    if not isinstance(store, ResultsStore) and not results.path.is_file():
        raise FileNotFoundError(
            f"results store {str(results.path)!r} does not exist; run 'normact reproduce {preset.name}' first"
        )
    wanted = list(range(sc.seeds if seeds is None else seeds))
    chosen = list(sc.select.seeds) if sc.select else []
    extra = sorted({r.seed for r in results.runs(study=preset.name)} - set(wanted) - set(chosen))
    grid = preset.selection_sweep(scale)
    selection_runs = None if grid is None else _from_store(preset, sc, results, grid, chosen)
    selection = {} if selection_runs is None else choices(selection_runs, sc.select)
    sweep = dataclasses.replace(preset.sweep(scale, 1, picks=picks_of(selection)), seeds=wanted + extra)
    return _attach(_from_store(preset, sc, results, sweep, wanted), selection, selection_runs)


def _from_store(
    preset: Preset, sc: Scale, results: ResultsStore, sweep: Sweep, wanted: list[int]
) -> StudyRuns:
    """The complete runs of ``sweep`` in ``results``; its seeds outside ``wanted`` are exploratory."""
    configs = sweep.configs()
    out = _empty(preset, sc, sweep.base, configs, wanted)
    records = {}
    for cfg in configs:
        record = results.find_run(cfg.study, cfg.variant, cfg.train.seed, config_hash(cfg))
        if record is not None and record.status in DONE_STATUSES:
            if cfg.train.seed in wanted:
                records[record.id] = record
            else:
                out.exploratory.setdefault(cfg.variant, []).append(cfg.train.seed)
        elif cfg.train.seed in wanted:
            out.missing.setdefault(cfg.variant, []).append(
                (cfg.train.seed, "not run" if record is None else record.status)
            )
    values: dict[int, dict[str, dict[int, float]]] = {i: {} for i in records}
    for row in results.metrics(list(records)) if records else ():
        values[row.run_id].setdefault(row.key, {})[row.epoch] = row.value
    for run_id, r in records.items():
        initial = {key: by_epoch.pop(0) for key, by_epoch in values[run_id].items() if 0 in by_epoch}
        metrics = {key: _array(by_epoch) for key, by_epoch in values[run_id].items() if by_epoch}
        stamps = r.config_hash, r.created_at, r.finished_at or ""
        run = RunData(r.variant, r.seed, run_id, r.status, r.diverged_epoch, metrics, initial, *stamps)
        out.runs[r.variant].append(run)
    return _finish(out)


def _empty(preset: Preset, sc: Scale, base: Config, configs: list[Config], seeds: list[int]) -> StudyRuns:
    return StudyRuns(
        preset=preset,
        scale=sc,
        base=base,
        epochs=max(cfg.train.epochs for cfg in configs),
        seeds=seeds,
        runs={cfg.variant: [] for cfg in configs},
    )


def _attach(out: StudyRuns, selection: dict[str, Choice], selection_runs: StudyRuns | None) -> StudyRuns:
    """``out`` with its selection; a tuned arm without a pick awaits it (module docstring)."""
    out.selection, out.selection_runs = selection, selection_runs
    for arm, choice in selection.items():
        if choice.pick is None:
            out.runs[arm] = []
            out.missing[arm] = [(s, "awaiting selection") for s in out.seeds]
            out.exploratory.pop(arm, None)
    return out


def picks_of(selection: dict[str, Choice]) -> dict[str, dict[str, Any]]:
    """Tuned arm -> the overrides it was picked with (arms still without a pick are left out)."""
    return {arm: c.picked.overrides for arm, c in selection.items() if c.picked is not None}


def choices(selection_runs: StudyRuns, select: Selection) -> dict[str, Choice]:
    """Each tuned arm's grid, with the mean of ``select.metric`` over its selection runs, and its pick."""
    from normact.experiments.judge import measure  # judge reads this module's StudyRuns

    preset, scale = selection_runs.preset, selection_runs.scale
    metric = preset.metrics[select.metric]
    worst = -math.inf if select.better == "higher" else math.inf
    out = {}
    for arm in select.tuned(list(preset.variants_of(scale.name))):
        points = []
        for overrides in select.points():
            name = point_name(arm, overrides)
            runs = selection_runs.runs[name]
            diverged = np.array([r.status == "diverged" for r in runs], dtype=bool)
            values = np.where(diverged, worst, measure(selection_runs, metric, name))
            if np.isnan(values).any():
                seed = runs[int(np.flatnonzero(np.isnan(values))[0])].seed
                raise ValueError(
                    f"preset {preset.name!r}, scale {scale.name!r}: selection run {name} seed {seed} "
                    f"finished without a value of {select.metric!r}, so no pick can be made"
                )
            missing = tuple(selection_runs.missing.get(name, ()))
            points.append(Point(dict(overrides), values, int(diverged.sum()), missing))
        out[arm] = choose(arm, points, select.better)
    return out


def _array(by_epoch: dict[int, float]) -> np.ndarray:
    arr = np.full(max(by_epoch), np.nan)
    for epoch, v in by_epoch.items():
        arr[epoch - 1] = v
    return arr


def _finish(out: StudyRuns) -> StudyRuns:
    """Sort the runs by seed and sum up their times."""
    every = [r for runs in out.runs.values() for r in runs]
    for variant in out.runs:
        out.runs[variant].sort(key=lambda r: r.seed)
    out.compute_seconds = float(sum(np.nansum(r.metrics.get("time", [])) for r in every))
    spans = [(datetime.fromisoformat(r.created_at), datetime.fromisoformat(r.finished_at))
             for r in every if r.finished_at]  # fmt: skip
    if spans:
        out.wall_seconds = busy_seconds(spans)
    return out


def busy_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    """Seconds during which at least one of the ``(start, end)`` spans was running (their union).

    Runs made in separate sittings (a sweep resumed the next day, an arm re-run later) count only
    the time they were running, not the gap between the sittings.
    """
    total, end = 0.0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total, end = total + (b - a).total_seconds(), b
        elif b > end:
            total, end = total + (b - end).total_seconds(), b
    return total


_CSV_FIXED = ("study", "scale", "variant", "seed", "config_hash", "status", "diverged_epoch", "created_at",
              "finished_at", "compute_seconds")  # fmt: skip


def write_runs_csv(runs: StudyRuns, path: str | Path) -> Path:
    """The runs as CSV: one row per run (module docstring), missing runs with their status and no values;
    the selection runs first, when the scale selects."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [runs] if runs.selection_runs is None else [runs.selection_runs, runs]
    every = [r for part in parts for v in part.runs.values() for r in v]
    keys = sorted(
        {(k, e) for r in every for k, a in r.metrics.items() for e in range(1, a.size + 1)}
        | {(k, 0) for r in every for k in r.initial}
    )
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*_CSV_FIXED, *(f"{k}@{e}" for k, e in keys)])
        study, scale = runs.preset.name, runs.scale.name
        for r in every:

            def value(k: str, e: int, r: RunData = r) -> str:
                if e == 0:
                    return repr(float(r.initial[k])) if k in r.initial else ""
                a = r.metrics.get(k)
                return "" if a is None or e > a.size or math.isnan(a[e - 1]) else repr(float(a[e - 1]))

            time = repr(float(np.nansum(r.metrics.get("time", []))))
            fixed = [study, scale, r.variant, r.seed, r.config_hash, r.status, r.diverged_epoch or "",
                     r.created_at, r.finished_at, time]  # fmt: skip
            w.writerow([*fixed, *(value(k, e) for k, e in keys)])
        for variant, missing in (m for part in parts for m in part.missing.items()):
            for seed, status in missing:
                w.writerow([study, scale, variant, seed, "", status, "", "", "", "", *([""] * len(keys))])
    return path


def read_runs_csv(preset: Preset, scale: str, path: str | Path) -> StudyRuns:
    """The :class:`StudyRuns` a ``runs.csv`` holds; its config hashes must be today's for the preset."""
    sc = preset.scale(scale)
    path = Path(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows, 2):
        if row["study"] != preset.name or row["scale"] != scale:
            raise ValueError(
                f"{str(path)!r}, line {i}: a run of {row['study']} at scale {row['scale']}, "
                f"not {preset.name} at {scale}"
            )
    grid = preset.selection_sweep(scale)
    names = set(grid.variants) if grid is not None else set()
    selection_runs = None if grid is None else _from_rows(preset, sc, grid, rows, path, keep=names)
    selection = {} if selection_runs is None else choices(selection_runs, sc.select)
    sweep = preset.sweep(scale, picks=picks_of(selection))
    return _attach(_from_rows(preset, sc, sweep, rows, path, skip=names), selection, selection_runs)


def _from_rows(
    preset: Preset,
    sc: Scale,
    sweep: Sweep,
    rows: list[dict[str, str]],
    path: Path,
    keep: set[str] | None = None,
    skip: set[str] = frozenset(),
) -> StudyRuns:
    """The runs of ``sweep`` among a ``runs.csv``'s ``rows``: only variants in ``keep`` (default: all),
    none in ``skip``; other seeds and variants are exploratory."""
    configs = sweep.configs()
    expected = {(c.variant, c.train.seed): config_hash(c) for c in configs}
    out = _empty(preset, sc, sweep.base, configs, list(sweep.seeds))
    for i, row in enumerate(rows, 2):
        at = f"{str(path)!r}, line {i}"
        variant, seed = row["variant"], int(row["seed"])
        if variant in skip or (keep is not None and variant not in keep):
            continue
        if (variant, seed) not in expected:
            out.exploratory.setdefault(variant, []).append(seed)
            continue
        if row["status"] not in DONE_STATUSES:
            out.missing.setdefault(variant, []).append((seed, row["status"]))
            continue
        if row["config_hash"] != expected[(variant, seed)]:
            raise ValueError(
                f"{at}: {variant} seed {seed} was run with config hash {row['config_hash'][:12]}, but the "
                f"preset's config for it hashes to {expected[(variant, seed)][:12]}: the preset has changed"
            )
        by_key: dict[str, dict[int, float]] = {}
        for column, text in row.items():
            if column in _CSV_FIXED or text == "":
                continue
            key, _, epoch = column.rpartition("@")
            by_key.setdefault(key, {})[int(epoch)] = float(text)
        initial = {k: v.pop(0) for k, v in by_key.items() if 0 in v}
        metrics = {k: _array(v) for k, v in by_key.items() if v}
        diverged = int(row["diverged_epoch"]) if row["diverged_epoch"] else None
        stamps = row["config_hash"], row["created_at"], row["finished_at"]
        run = RunData(variant, seed, -1, row["status"], diverged, metrics, initial, *stamps)
        out.runs[variant].append(run)
    found = {(v, r.seed) for v, rs in out.runs.items() for r in rs} | {
        (v, s) for v, m in out.missing.items() for s, _ in m
    }
    for variant, seed in expected:
        if (variant, seed) not in found:
            out.missing.setdefault(variant, []).append((seed, "not run"))
    return _finish(out)
