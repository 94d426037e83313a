"""A summary of any study in a results store (a user's own sweep): ``normact report --study NAME``.

Per variant: the runs by outcome, the mean and median of each final metric with 95 % intervals
(``normact.experiments.stats``), the best epoch, the diverged runs, and a figure of the median curves.
Statistics are over the variant's finished runs, at their last epoch; diverged runs are counted and
listed apart, and runs that failed, were interrupted or still run are left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from normact.experiments.report import Figure, fmt, markdown_table, save_figure
from normact.experiments.stats import mean_ci, median_ci
from normact.train.store import ResultsStore, RunRecord

__all__ = ["VariantRuns", "collect_study", "render_summary", "write_summary"]

DEFAULT_METRICS = ("test_acc", "test_loss")


@dataclass
class VariantRuns:
    """One variant's runs: the finished ones' per-epoch metrics, the diverged ones, the others."""

    name: str
    finished: list[dict[str, np.ndarray]] = field(default_factory=list)  # key -> values of epochs 1..E
    diverged: list[tuple[int, int | None]] = field(default_factory=list)  # (seed, diverged epoch)
    other: list[tuple[int, str]] = field(default_factory=list)  # (seed, status)
    config_hashes: set[str] = field(default_factory=set)


def _lower_is_better(key: str) -> bool:
    return key.endswith("loss")


def collect_study(store: ResultsStore, study: str) -> list[VariantRuns]:
    """The runs of ``study`` by variant, in the order the variants first appear."""
    records = store.runs(study=study)
    if not records:
        known = sorted({r.study for r in store.runs()})
        raise ValueError(f"no run of study {study!r} in {str(store.path)!r}; its studies: {known}")
    variants: dict[str, VariantRuns] = {}
    finished: dict[int, tuple[VariantRuns, RunRecord]] = {}
    for r in records:
        v = variants.setdefault(r.variant, VariantRuns(r.variant))
        v.config_hashes.add(r.config_hash)
        if r.status == "finished":
            finished[r.id] = (v, r)
        elif r.status == "diverged":
            v.diverged.append((r.seed, r.diverged_epoch))
        else:
            v.other.append((r.seed, r.status))
    by_run: dict[int, dict[str, dict[int, float]]] = {i: {} for i in finished}
    for row in store.metrics(list(finished)) if finished else ():
        by_run[row.run_id].setdefault(row.key, {})[row.epoch] = row.value
    for run_id, (v, record) in finished.items():
        series = {}
        for key, values in by_run[run_id].items():
            arr = np.full(record.epochs_done, np.nan)
            for epoch, value in values.items():
                if epoch <= record.epochs_done:
                    arr[epoch - 1] = value
            series[key] = arr
        v.finished.append(series)
    return list(variants.values())


def _final(v: VariantRuns, key: str) -> np.ndarray:
    return np.array([run[key][-1] for run in v.finished if key in run and run[key].size], dtype=float)


def _best_epochs(v: VariantRuns, key: str) -> np.ndarray:
    """Each finished run's epoch (from 1) with its best value of ``key``."""
    pick = np.nanargmin if _lower_is_better(key) else np.nanargmax
    return np.array([pick(run[key]) + 1 for run in v.finished if key in run and np.isfinite(run[key]).any()])


def _stat_cells(values: np.ndarray) -> list[str]:
    if values.size == 0 or not np.isfinite(values).all():
        return ["–", "–"]
    m, med = mean_ci(values), median_ci(values)
    mean = f"{fmt(m.estimate, 4)} [{fmt(m.low, 4)}, {fmt(m.high, 4)}]"
    median = f"{fmt(med.estimate, 4)} [{fmt(med.low, 4)}, {fmt(med.high, 4)}]"
    if med.coverage < 0.95:
        median += f" ({med.coverage:.0%})"
    return [mean, median]


def render_summary(study: str, variants: Sequence[VariantRuns], metrics: Sequence[str]) -> str:
    """The summary as Markdown (the figure linked as ``curves.png``)."""
    counts = [
        [v.name, len(v.finished), len(v.diverged), ", ".join(f"seed {s} ({st})" for s, st in v.other) or "–"]
        for v in variants
    ]
    parts = [
        f"# Study `{study}`",
        f"{sum(len(v.finished) for v in variants)} finished, {sum(len(v.diverged) for v in variants)} "
        f"diverged and {sum(len(v.other) for v in variants)} other runs in {len(variants)} variants. "
        "Statistics are over each variant's finished runs at their last epoch: the mean with Student's t "
        "95 % interval, the median with its order-statistic interval (its coverage in brackets where few "
        "runs keep it under 95 %).",
        "## Runs",
        markdown_table(["variant", "finished", "diverged", "left out"], counts),
    ]
    for key in metrics:
        rows = []
        for v in variants:
            final, best = _final(v, key), _best_epochs(v, key)
            best_text = "–" if best.size == 0 else f"{np.median(best):g} ({best.min()}-{best.max()})"
            rows.append([v.name, final.size, *_stat_cells(final), best_text])
        better = "lowest" if _lower_is_better(key) else "highest"
        parts += [
            f"## Final `{key}`",
            markdown_table(
                ["variant", "n", "mean [95 % CI]", "median [CI]", f"best epoch: median (range), {better}"],
                rows,
            ),
        ]
    diverged = [f"{v.name}: " + ", ".join(f"seed {s} at epoch {e}" for s, e in v.diverged) for v in variants
                if v.diverged]  # fmt: skip
    parts += ["## Diverged runs", "\n".join(f"- {line}" for line in diverged) or "None."]
    mixed = [v.name for v in variants if len(v.config_hashes) > 1]
    if mixed:
        parts.append(
            f"Variants {mixed} hold runs of several configs (config hashes differ): `normact runs --study "
            f"{study}` lists them."
        )
    parts += ["## Figures", "![median curves](curves.png)", f"*Median over finished runs per epoch, "
              f"shaded between the quartiles: {', '.join(metrics)}.*"]  # fmt: skip
    return "\n\n".join(parts) + "\n"


def _curves(variants: Sequence[VariantRuns], metrics: Sequence[str]) -> Figure:
    def draw(fig: MplFigure) -> None:
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        for ax, key in zip(axes, metrics, strict=True):
            for v in variants:
                runs = [run[key] for run in v.finished if key in run]
                if not runs:
                    continue
                epochs = max(r.size for r in runs)
                table = np.full((len(runs), epochs), np.nan)
                for i, r in enumerate(runs):
                    table[i, : r.size] = r
                x = np.arange(1, epochs + 1)
                (line,) = ax.plot(x, np.nanmedian(table, axis=0), label=f"{v.name} (n={len(runs)})")
                low, high = np.nanpercentile(table, [25, 75], axis=0)
                ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
            ax.set(xlabel="epoch", ylabel=key, title=f"median {key}")
        axes[0].legend(fontsize=8)

    return Figure("curves", "median curves", draw, size=(5.0 * len(metrics), 4.0))


def write_summary(
    store: str | Path | ResultsStore, study: str, out: str | Path | None = None, metrics: Sequence[str] = ()
) -> tuple[str, Path]:
    """Write ``report.md`` and ``curves.png`` for ``study`` into ``out``; returns the Markdown and its path.

    ``out`` defaults to ``<store folder>/<study>/summary``; ``metrics`` to test accuracy and loss.
    """
    results = store if isinstance(store, ResultsStore) else ResultsStore(store)
    if not results.path.is_file():
        raise FileNotFoundError(f"results store {str(results.path)!r} does not exist")
    metrics = tuple(metrics) or DEFAULT_METRICS
    variants = collect_study(results, study)
    out = Path(out) if out is not None else results.path.parent / study / "summary"
    out.mkdir(parents=True, exist_ok=True)
    text = render_summary(study, variants, metrics)
    save_figure(_curves(variants, metrics), out / "curves.png")
    path = out / "report.md"
    path.write_text(text)
    return text, path
