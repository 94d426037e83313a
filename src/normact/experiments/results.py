"""A preset's runs as found in the results store: per variant, per seed, metrics as per-epoch arrays.

Only runs whose config hash is the one the preset gives today for that scale, variant and seed count,
so runs of an older version of a preset, or of another scale, never mix into a report. Runs that are
``finished`` or ``diverged`` are complete; a ``running`` or ``failed`` run, or one never started, is
reported as missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from normact.experiments.preset import Preset, Scale
from normact.train.config import Config, config_hash
from normact.train.store import DONE_STATUSES, ResultsStore

__all__ = ["RunData", "StudyRuns", "collect_runs"]


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
    wall_seconds: float | None = None  # first run created to last run finished

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
        text = f"Training took {self.compute_seconds / 60:.1f} min of compute (sum of epoch times)"
        if self.wall_seconds is not None:
            wall = self.wall_seconds / 60
            text += f", {wall:.1f} min wall-clock from the first run's start to the last run's end"
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
        seeds: look for seeds ``0 .. seeds - 1``; None: the scale's count, and any higher seed that
            has runs of this scale in the store.
    """
    sc = preset.scale(scale)  # an unknown scale is reported before anything is read
    results = store if isinstance(store, ResultsStore) else ResultsStore(store)
    if not isinstance(store, ResultsStore) and not results.path.is_file():
        raise FileNotFoundError(
            f"results store {str(results.path)!r} does not exist; run 'normact reproduce {preset.name}' first"
        )
    wanted = list(range(sc.seeds if seeds is None else seeds))
    # seeds beyond the scale's count are counted when the store holds runs of them (--seeds K)
    extra = sorted({r.seed for r in results.runs(study=preset.name)} - set(wanted)) if seeds is None else []
    sweep = dataclasses.replace(preset.sweep(scale, 1), seeds=wanted + extra)
    configs = sweep.configs()
    runs: dict[str, list[RunData]] = {v: [] for v in sweep.variants}
    missing: dict[str, list[tuple[int, str]]] = {}
    records = {}
    for cfg in configs:
        record = results.find_run(cfg.study, cfg.variant, cfg.train.seed, config_hash(cfg))
        if record is not None and record.status in DONE_STATUSES:
            records[record.id] = record
        elif cfg.train.seed in wanted:
            missing.setdefault(cfg.variant, []).append(
                (cfg.train.seed, "not run" if record is None else record.status)
            )
    values: dict[int, dict[str, dict[int, float]]] = {i: {} for i in records}
    for row in results.metrics(list(records)) if records else ():
        values[row.run_id].setdefault(row.key, {})[row.epoch] = row.value
    compute = 0.0
    for run_id, record in records.items():
        metrics, initial = {}, {}
        for key, by_epoch in values[run_id].items():
            if 0 in by_epoch:
                initial[key] = by_epoch.pop(0)
            if not by_epoch:
                continue
            arr = np.full(max(by_epoch), np.nan)
            for epoch, v in by_epoch.items():
                arr[epoch - 1] = v
            metrics[key] = arr
        compute += float(np.nansum(metrics.get("time", [])))
        runs[record.variant].append(
            RunData(
                record.variant, record.seed, run_id, record.status, record.diverged_epoch, metrics, initial
            )
        )
    for variant in runs:
        runs[variant].sort(key=lambda r: r.seed)
    wall = None
    if records:
        start = min(datetime.fromisoformat(r.created_at) for r in records.values())
        end = max(datetime.fromisoformat(r.finished_at) for r in records.values() if r.finished_at)
        wall = (end - start).total_seconds()
    return StudyRuns(
        preset=preset,
        scale=sc,
        base=sweep.base,
        epochs=max(cfg.train.epochs for cfg in configs),
        seeds=sorted(set(wanted) | {r.seed for r in records.values()}),
        runs=runs,
        missing=missing,
        compute_seconds=compute,
        wall_seconds=wall,
    )
