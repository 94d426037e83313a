"""Run a preset's sweep and write its report; report on the store; list the presets.

``reproduce("anact-lenet5", "cpu", jobs=2)`` runs every (variant, seed) of the scale that the results
store does not hold yet (an interrupted call resumes where it stopped: finished runs are skipped and
a half-done run continues from its last checkpoint), then writes ``<out>/report.md``, its figures and
``runs.csv``, the runs it was built from. A scale that selects (``normact.experiments.selection``)
runs its selection runs first, picks each tuned arm's point from them, then runs the test runs with
the picks; an arm whose selection runs are not all complete is not tested yet. By default the store
is ``results/normact.sqlite``, checkpoints go to ``runs/`` beside it and the report to
``<store folder>/<preset>/<scale>/``.
``report(name, runs_csv=...)`` rebuilds a report from a ``runs.csv`` alone, without the store.
"""

from __future__ import annotations

import functools
import logging
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from normact.experiments.analysis import analyze
from normact.experiments.preset import get_preset, list_presets
from normact.experiments.report import Report, write_overview, write_report
from normact.experiments.results import StudyRuns, collect_runs, picks_of, read_runs_csv, write_runs_csv
from normact.train.config import Config
from normact.train.store import DEFAULT_STORE, ResultsStore
from normact.train.sweep import SweepItem, run_sweep

__all__ = [
    "ReproduceResult",
    "build_report",
    "describe_presets",
    "load_runs",
    "overview_folder",
    "report",
    "report_all",
    "reproduce",
]

log = logging.getLogger("normact.experiments")


@dataclass
class ReproduceResult:
    """What ``reproduce`` did: one item per run of the sweep, the report and where it was written."""

    items: list[SweepItem]
    report: Report | None
    path: Path | None

    @property
    def failed(self) -> list[SweepItem]:
        return [i for i in self.items if i.status == "failed"]


def default_out(store: str | Path, preset: str, scale: str) -> Path:
    """``<store folder>/<preset>/<scale>``: where a report goes unless told otherwise."""
    return Path(store).parent / preset / scale


def reproduce(
    name: str,
    scale: str = "cpu",
    *,
    jobs: int = 1,
    seeds: int | None = None,
    store: str | Path = DEFAULT_STORE,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    engine: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> ReproduceResult:
    """Run the sweep of preset ``name`` at ``scale``, skipping what the store holds, then write the report.

    Args:
        name: a preset (``list_presets()``).
        scale: one of the preset's scales (``cpu``, ``full``, ...).
        jobs: worker processes (each gets ``cpu_count // jobs`` torch threads).
        seeds: seeds ``0 .. seeds - 1`` per variant (default: the scale's count).
        store: the SQLite results store.
        out: the report's folder (default: ``<store folder>/<name>/<scale>``).
        data_dir: where the datasets are (``data.root``; default: ``$NORMACT_DATA`` or the dataset's
            default folder, see docs/data.md). Does not change the runs' identity in the store.
        engine: keyword arguments of ``run_sweep`` that choose the engine (``engine="ray"``,
            ``address``, ``cpus_per_run``, ``gpus_per_run``, ``checkpoint_dir``).
        device: ``train.device`` of every run (default: the preset's); the runs keep their identity.

    Returns:
        The sweep's items and the report; the report is None when no run completed.
    """
    preset = get_preset(name)
    sc = preset.scale(scale)
    store = Path(store)
    overrides: dict[str, object] = {"train.out_dir": str(store.parent / "runs"), "train.progress": "none"}
    if data_dir is not None:
        overrides["data.root"] = str(data_dir)
    if device is not None:
        overrides["train.device"] = device
    sweep = preset.sweep(scale, seeds, overrides)
    grid = preset.selection_sweep(scale, overrides)
    configs = sweep.configs()
    _check_data(configs + (grid.configs() if grid is not None else []))
    log.info(
        "%s at scale %s: %d variants x %d seeds = %d runs (estimate for the whole sweep: %s on 2 CPU cores "
        "with --jobs 2); store %s",
        preset.name, scale, len(sweep.variants), len(sweep.seeds), len(configs), _minutes(sc.minutes), store,
    )  # fmt: skip
    items = []
    if grid is not None:
        log.info("%s at scale %s: first %d selection runs (%d arms x %d grid points x %d seeds)", preset.name,
                 scale, len(grid.configs()), len(grid.variants) // len(sc.select.points()),
                 len(sc.select.points()), len(grid.seeds))  # fmt: skip
        items += run_sweep(grid, store, jobs=jobs, **(engine or {}))
        selection = collect_runs(preset, scale, store, len(sweep.seeds)).selection
        waiting = [arm for arm, choice in selection.items() if choice.pick is None]
        if waiting:
            log.warning("%s: no pick yet for %s (a selection run is not complete); their test runs wait",
                        preset.name, ", ".join(waiting))  # fmt: skip
        sweep = preset.sweep(scale, seeds, overrides, picks=picks_of(selection))
        sweep.variants = {v: o for v, o in sweep.variants.items() if v not in waiting}
    items += run_sweep(sweep, store, jobs=jobs, **(engine or {}))
    runs = collect_runs(preset, scale, store, len(sweep.seeds))
    if runs.n_runs == 0:
        return ReproduceResult(items, None, None)
    rep = analyze(runs)
    path = _write(rep, runs, out if out is not None else default_out(store, preset.name, scale))
    return ReproduceResult(items, rep, path)


def _write(rep: Report, runs: StudyRuns, out: str | Path, csv: bool = True) -> Path:
    """``report.md`` with its figures, and ``runs.csv`` beside it unless the runs came from that file."""
    path = write_report(rep, out)
    if csv:
        write_runs_csv(runs, path.parent / "runs.csv")
    return path


def load_runs(
    name: str,
    scale: str = "cpu",
    store: str | Path = DEFAULT_STORE,
    seeds: int | None = None,
    runs_csv: str | Path | None = None,
) -> StudyRuns:
    """The runs of preset ``name`` at ``scale``: from ``runs_csv`` when given, else from ``store``."""
    preset = get_preset(name)
    if runs_csv is not None:
        runs = read_runs_csv(preset, scale, runs_csv)
    else:
        runs = collect_runs(preset, scale, store, seeds)
    if runs.n_runs == 0:
        raise ValueError(
            f"{str(runs_csv or store)!r} holds no complete run of {name!r} at scale {scale!r}; "
            f"run 'normact reproduce {name} --scale {scale}' first"
        )
    return runs


def build_report(
    name: str,
    scale: str = "cpu",
    store: str | Path = DEFAULT_STORE,
    seeds: int | None = None,
    runs_csv: str | Path | None = None,
) -> Report:
    """The report of preset ``name`` at ``scale`` from the runs in ``store`` or in ``runs_csv``."""
    return analyze(load_runs(name, scale, store, seeds, runs_csv))


def report(
    name: str,
    scale: str = "cpu",
    store: str | Path = DEFAULT_STORE,
    out: str | Path | None = None,
    seeds: int | None = None,
    runs_csv: str | Path | None = None,
) -> tuple[Report, Path]:
    """Build the report of ``name`` at ``scale`` and write it (default folder: ``default_out``, or the
    folder of ``runs_csv``); from the store, ``runs.csv`` is written beside it."""
    runs = load_runs(name, scale, store, seeds, runs_csv)
    rep = analyze(runs)
    if out is None:
        out = Path(runs_csv).parent if runs_csv is not None else default_out(store, name, scale)
    return rep, _write(rep, runs, out, csv=runs_csv is None)


def overview_folder(out: str | Path, preset: str, scale: str) -> Path:
    """Where ``report_all`` writes a report: ``<out>/<preset>`` for the ``cpu`` scale (the committed
    reports' layout, ``docs/results/<preset>/``), ``<out>/<preset>/<scale>`` for any other scale."""
    return Path(out) / preset if scale == "cpu" else Path(out) / preset / scale


def report_all(
    store: str | Path = DEFAULT_STORE, out: str | Path | None = None, runs_dir: str | Path | None = None
) -> tuple[list[Report], Path]:
    """Reports of every preset and scale with runs in ``store``, and ``overview.md`` linking them.

    Each report goes to :func:`overview_folder` (``out`` defaults to the store's folder). With
    ``runs_dir`` the runs come from the ``runs.csv`` files under it instead (``<runs_dir>/<preset>/`` and
    ``<runs_dir>/<preset>/<scale>/``, the layout ``report_all`` writes; ``out`` defaults to ``runs_dir``),
    so committed reports are rebuilt without the store. A preset whose analysis fails does not stop the
    others: the overview lists it with the error.
    """
    if runs_dir is not None:
        runs_dir = Path(runs_dir)
        out = Path(out) if out is not None else runs_dir
        found_runs = _runs_in_folder(runs_dir)
    else:
        store = Path(store)
        if not store.is_file():
            message = f"results store {str(store)!r} does not exist; run 'normact reproduce' first"
            raise FileNotFoundError(message)
        out = Path(out) if out is not None else store.parent
        found_runs = _runs_in_store(ResultsStore(store))
    found: list[tuple[Report, str]] = []
    failed: list[tuple[str, str, str]] = []
    for name, scale, load in found_runs:
        try:
            runs = load()
            if runs.n_runs == 0:
                continue
            rep = analyze(runs)
            path = _write(rep, runs, overview_folder(out, name, scale), csv=runs_dir is None)
        except Exception as error:  # one broken analysis must not hide every other report
            log.exception("%s at scale %s: the report failed", name, scale)
            failed.append((name, scale, f"{type(error).__name__}: {error}"))
            continue
        found.append((rep, path.relative_to(out).as_posix()))
    return [r for r, _ in found], write_overview(found, out, failed)


def _runs_in_store(results: ResultsStore) -> list[tuple[str, str, Callable[[], StudyRuns]]]:
    """(preset, scale, loader of its runs) for every preset with runs in ``results``, in preset order."""
    studies = {r.study for r in results.runs()}
    return [
        (name, scale, functools.partial(collect_runs, get_preset(name), scale, results))
        for name in list_presets()
        if name in studies
        for scale in get_preset(name).scales
    ]


def _runs_in_folder(folder: Path) -> list[tuple[str, str, Callable[[], StudyRuns]]]:
    """(preset, scale, loader) for every ``runs.csv`` of a preset under ``folder``, in preset order."""
    if not folder.is_dir():
        raise FileNotFoundError(f"--runs {str(folder)!r}: no such folder of reports (e.g. docs/results)")
    found = []
    for name in list_presets():
        for scale in get_preset(name).scales:
            path = overview_folder(folder, name, scale) / "runs.csv"
            if path.is_file():
                found.append((name, scale, functools.partial(read_runs_csv, get_preset(name), scale, path)))
    if not found:
        raise FileNotFoundError(f"--runs {str(folder)!r} holds no <preset>/runs.csv of a preset's report")
    return found


def describe_presets() -> str:
    """Every preset: its paper, claims, scales and time estimates (``normact reproduce --list``)."""
    blocks = []
    for name in list_presets():
        p = get_preset(name)
        lines = [f"{p.name}: {p.title}", f"  paper: {p.paper}", "  claims:"]
        lines += [f"    - {c.text}" + (" (confounded)" if c.confounded else "") for c in p.claims]
        lines.append("  scales:")
        for sc in p.scales.values():
            lines.append(
                f"    {sc.name}: {len(p.variants_of(sc.name))} variants x {sc.seeds} "
                f"seed{'s' if sc.seeds != 1 else ''}, "
                f"about {_minutes(sc.minutes)} on 2 CPU cores (--jobs 2)"
            )
            grid = p.selection_sweep(sc.name)
            if sc.select is not None and grid is not None:
                runs = len(grid.variants) * len(grid.seeds)
                text = f"select, then test: {runs} selection runs first; {sc.select.describe()}"
                lines += textwrap.wrap(text, 100, initial_indent="      ", subsequent_indent="      ")
            if sc.notes:
                lines += textwrap.wrap(sc.notes, 100, initial_indent="      ", subsequent_indent="      ")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _minutes(minutes: float) -> str:
    if minutes < 120:
        return f"{minutes:g} min"
    return f"{minutes / 60:.3g} h" if minutes < 2880 else f"{minutes / 1440:,.0f} days"


def _check_data(configs: list[Config]) -> None:
    """Fail before any run starts when a dataset's files are missing (the error says how to get them)."""
    from normact.data import resolve_root

    for name, root in sorted({(c.data.name, c.data.root) for c in configs}, key=str):
        resolve_root(name, root)
