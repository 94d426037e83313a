"""Runs of a results store as a table file: one row per run and epoch, CSV or Parquet."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from normact.train.store import ResultsStore, RunRecord

__all__ = ["FORMATS", "RUN_COLUMNS", "export_runs", "run_rows"]

FORMATS = ("csv", "parquet")
# the run's columns in each row; the config itself is left out (its hash tells configs apart)
RUN_COLUMNS = (
    "id", "study", "variant", "seed", "status", "config_hash", "epochs_done", "diverged_epoch", "device",
    "precision", "world_size", "created_at", "finished_at", "host",
)  # fmt: skip


def run_rows(store: ResultsStore, runs: Sequence[RunRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows: each run's columns with one epoch's metrics (a row without epoch if none)."""
    history: dict[int, dict[int, dict[str, float]]] = {}
    keys: dict[str, None] = {}
    for row in store.metrics([r.id for r in runs]) if runs else ():
        history.setdefault(row.run_id, {}).setdefault(row.epoch, {})[row.key] = row.value
        keys.setdefault(row.key)
    rows = []
    for run in runs:
        base = {c: getattr(run, c, None) for c in RUN_COLUMNS}
        epochs = history.get(run.id, {})
        rows.extend([{**base, "epoch": e, **epochs[e]} for e in sorted(epochs)] or [{**base, "epoch": None}])
    return [*RUN_COLUMNS, "epoch", *sorted(keys)], rows


def export_runs(
    store: ResultsStore, runs: Sequence[RunRecord], path: str | Path, fmt: str | None = None
) -> Path:
    """Write ``runs`` with their per-epoch metrics to ``path`` as CSV or Parquet (``fmt``, else the suffix).

    CSV leaves missing values empty and writes NaN as ``nan``; Parquet needs ``pyarrow``.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(
            f"export format {fmt!r} unknown; choose from {list(FORMATS)} (or name a .csv/.parquet file)"
        )
    columns, rows = run_rows(store, runs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(rows)
        return path
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("Parquet export needs pyarrow: pip install pyarrow (or export to .csv)") from None
    table = pa.table({c: [row.get(c) for row in rows] for c in columns})
    pq.write_table(table, path)
    return path
