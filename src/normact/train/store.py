"""SQLite results store: runs, their configs and status, and per-epoch metrics in long format.

The database runs in WAL mode with a busy timeout, and every write is one short ``BEGIN IMMEDIATE``
transaction, so several processes (sweep workers, separate sweeps) can write to one file at once
without losing a row. Each process opens its own connection; a store object passed to another process
reconnects there.

Schema (``PRAGMA user_version`` = 2)::

    runs(id, study, variant, seed, config_hash, config JSON, status, epochs_done, diverged_epoch,
         error, created_at, started_at, updated_at, finished_at, host, pid,
         device, device_name, precision, world_size, torch_version, heartbeat_at)
         UNIQUE(study, variant, seed, config_hash); status in running|finished|diverged|failed
    metrics(run_id, epoch, key, value)   PRIMARY KEY(run_id, epoch, key)

A store written by an older normact is upgraded in place when it is opened: ``_SCHEMA`` creates the
version-1 tables and ``_MIGRATIONS[k]`` takes version ``k + 1`` to ``k + 2``, in one transaction. A change
of schema appends a step to ``_MIGRATIONS``; earlier steps never change.

A run's process writes ``heartbeat_at`` every ``heartbeat`` seconds while it runs (``keep_alive``). A
``running`` row is read back as ``interrupted`` when its process is gone: its pid no longer exists on
this host, or (from any host) its last heartbeat is older than ``STALE_BEATS`` heartbeats. The stored
status stays ``running`` until the run is started again or deleted.

Timestamps are UTC ISO-8601 strings. A NaN metric is stored as NULL (SQLite has no NaN) and read back as
NaN; infinities are stored as they are.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_STORE = "results/normact.sqlite"
STATUSES = ("running", "finished", "diverged", "failed")
DONE_STATUSES = ("finished", "diverged")  # outcomes a sweep does not repeat
# what a run computed on, set by start_run: device ("cuda:0"), its model name, train.precision, the
# number of processes and torch.__version__
RUNTIME_COLUMNS = ("device", "device_name", "precision", "world_size", "torch_version")
# read-only: a running row whose process is gone (see the module docstring)
READ_STATUSES = (*STATUSES, "interrupted")
HEARTBEAT_SECONDS = 10.0
STALE_BEATS = 6  # heartbeats missed before a run on another host counts as interrupted

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    variant TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'diverged', 'failed')),
    epochs_done INTEGER NOT NULL DEFAULT 0,
    diverged_epoch INTEGER,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    host TEXT,
    pid INTEGER,
    UNIQUE (study, variant, seed, config_hash)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, epoch, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS metrics_key ON metrics (key, run_id);
"""

# Each step takes the schema from version k + 1 to k + 2 (``_SCHEMA`` is version 1).
_MIGRATIONS: tuple[str, ...] = (
    # 2: where and how a run ran, and when its process last showed signs of life.
    """
    ALTER TABLE runs ADD COLUMN device TEXT;
    ALTER TABLE runs ADD COLUMN device_name TEXT;
    ALTER TABLE runs ADD COLUMN precision TEXT;
    ALTER TABLE runs ADD COLUMN world_size INTEGER;
    ALTER TABLE runs ADD COLUMN torch_version TEXT;
    ALTER TABLE runs ADD COLUMN heartbeat_at TEXT
    """,
)
SCHEMA_VERSION = 1 + len(_MIGRATIONS)


class StoreError(ValueError):
    """A results store that cannot be used; the message names the file and what to do."""

    def __init__(self, path: Path, problem: str | BaseException) -> None:
        self.path = path
        if isinstance(problem, BaseException):
            text = str(problem)
            if isinstance(problem, OSError):
                problem = f"cannot be created ({problem.strerror}): pass --store with a writable path"
            elif "readonly" in text or "read-only" in text:
                problem = "is read-only: make it writable, or copy it and pass --store with the copy"
            elif "not a database" in text or "malformed" in text:
                problem = "is not an SQLite database or is damaged: move it away and pass --store"
            else:
                problem = f"cannot be opened ({text}): check the path, or pass --store"
        super().__init__(f"results store {str(path)!r}: {problem}")


@dataclass(frozen=True)
class RunRecord:
    """One row of the ``runs`` table."""

    id: int
    study: str
    variant: str
    seed: int
    config_hash: str
    config: dict[str, Any]
    status: str
    epochs_done: int
    diverged_epoch: int | None
    error: str | None
    created_at: str
    started_at: str
    updated_at: str
    finished_at: str | None
    host: str | None
    pid: int | None
    device: str | None = None
    device_name: str | None = None
    precision: str | None = None
    world_size: int | None = None
    torch_version: str | None = None
    heartbeat_at: str | None = None


@dataclass(frozen=True)
class MetricRow:
    """One row of the ``metrics`` table."""

    run_id: int
    epoch: int
    key: str
    value: float


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ResultsStore:
    """A results database at ``path`` (created with its folder when missing).

    Args:
        path: the SQLite file.
        timeout: seconds a write waits for another process's transaction before failing.
        heartbeat: seconds between a running run's heartbeats (``keep_alive``); a run on another
            host is read as ``interrupted`` after ``STALE_BEATS`` of them without one.
    """

    def __init__(
        self, path: str | Path = DEFAULT_STORE, timeout: float = 60.0, heartbeat: float = HEARTBEAT_SECONDS
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.heartbeat = heartbeat
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "timeout": self.timeout, "heartbeat": self.heartbeat, "_conn": None,
                "_pid": None}  # fmt: skip

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    def close(self) -> None:
        """Close this process's connection (reopened on next use)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        """This process's connection, opened (and the schema created) on first use.

        Raises:
            StoreError: the file is not an SQLite database, is damaged, cannot be written, or has a
                newer schema; the message names the file and what to do.
        """
        if self._conn is None or self._pid != os.getpid():
            try:
                self._open()
            except BaseException as err:
                self.close()
                if isinstance(err, sqlite3.DatabaseError | OSError):
                    raise StoreError(self.path, err) from None
                raise
        return self._conn

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._conn, self._pid = conn, os.getpid()
        with self._write() as c:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                c.execute(statement)
            version = max(1, c.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    self.path,
                    f"schema version {version}; this normact reads versions up to {SCHEMA_VERSION}: "
                    "upgrade normact",
                )
            for step in _MIGRATIONS[version - 1 :]:
                for statement in filter(str.strip, step.split(";")):
                    c.execute(statement)
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _retry_locked(self, fn: Any) -> Any:
        # Switching to WAL needs a moment of exclusive access; the busy handler does not cover it.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        if conn.in_transaction:  # a write within a larger one (record_run) is part of it
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- writing --------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        study: str,
        variant: str,
        seed: int,
        config_hash: str,
        config: Mapping[str, Any],
        resume_epoch: int = 0,
        runtime: Mapping[str, Any] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> int:
        """Mark the run with this key as running and return its id; create it if it is new.

        Metrics after ``resume_epoch`` (all of them for a fresh start) are deleted, so a resumed run
        continues from its checkpoint with nothing stale beyond it. ``runtime`` gives the values of
        ``RUNTIME_COLUMNS`` (missing ones are stored as NULL); ``host`` and ``pid`` default to this
        process's (a sweep driver passes its worker's).
        """
        runtime = dict(runtime or {})
        unknown = sorted(set(runtime) - set(RUNTIME_COLUMNS))
        if unknown:
            raise ValueError(f"unknown runtime columns {unknown}; valid: {list(RUNTIME_COLUMNS)}")
        now = _now()
        columns, marks = ", ".join(RUNTIME_COLUMNS), ", ".join("?" * len(RUNTIME_COLUMNS))
        with self._write() as c:
            c.execute(
                f"""INSERT INTO runs (study, variant, seed, config_hash, config, status, epochs_done,
                                     created_at, started_at, updated_at, host, pid, {columns})
                   VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, {marks})
                   ON CONFLICT (study, variant, seed, config_hash) DO UPDATE SET
                       config = excluded.config, status = 'running', epochs_done = excluded.epochs_done,
                       diverged_epoch = NULL, error = NULL, started_at = excluded.started_at,
                       updated_at = excluded.updated_at, finished_at = NULL,
                       host = excluded.host, pid = excluded.pid,
                       {", ".join(f"{col} = excluded.{col}" for col in RUNTIME_COLUMNS)}""",
                (study, variant, seed, config_hash, json.dumps(dict(config), sort_keys=True),
                 resume_epoch, now, now, now, host or socket.gethostname(), pid or os.getpid(),
                 *(runtime.get(col) for col in RUNTIME_COLUMNS)),
            )  # fmt: skip
            run_id = c.execute(
                "SELECT id FROM runs WHERE study = ? AND variant = ? AND seed = ? AND config_hash = ?",
                (study, variant, seed, config_hash),
            ).fetchone()[0]
            c.execute("DELETE FROM metrics WHERE run_id = ? AND epoch > ?", (run_id, resume_epoch))
        return run_id

    def log_epoch(
        self, run_id: int, epoch: int, metrics: Mapping[str, float], *, complete: bool = True
    ) -> None:
        """Store one epoch's metrics (replacing any earlier values for that epoch) and advance the run.

        ``complete=False`` stores the metrics of an epoch the run did not finish (it diverged in it)
        without advancing ``epochs_done``.
        """
        rows = [(run_id, epoch, str(k), _real(v)) for k, v in metrics.items()]
        with self._write() as c:
            c.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, epoch, key, value) VALUES (?, ?, ?, ?)", rows
            )
            done = epoch if complete else epoch - 1
            c.execute("UPDATE runs SET epochs_done = ?, updated_at = ? WHERE id = ?", (done, _now(), run_id))

    def finish_run(
        self, run_id: int, status: str, *, diverged_epoch: int | None = None, error: str | None = None
    ) -> None:
        """Record the outcome of a run: ``finished``, ``diverged`` (with its epoch) or ``failed``."""
        if status not in STATUSES[1:]:
            raise ValueError(f"final status must be one of {list(STATUSES[1:])}, got {status!r}")
        if (status == "diverged") != (diverged_epoch is not None):
            raise ValueError("diverged_epoch is required for, and only for, status 'diverged'")
        now = _now()
        with self._write() as c:
            c.execute(
                """UPDATE runs SET status = ?, diverged_epoch = ?, error = ?, updated_at = ?,
                   finished_at = ? WHERE id = ?""",
                (status, diverged_epoch, error, now, now, run_id),
            )

    def record_run(
        self,
        *,
        study: str,
        variant: str,
        seed: int,
        config_hash: str,
        config: Mapping[str, Any],
        status: str,
        history: Iterable[Mapping[str, float]],
        diverged_epoch: int | None = None,
        error: str | None = None,
        runtime: Mapping[str, Any] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> int:
        """Write a whole run that ran elsewhere (a Ray task) in one transaction; return its id.

        ``history`` holds ``{"epoch": e, metric: value, ...}`` entries as ``RunResult.history`` does
        (a diverged run's last entry is its incomplete epoch). Either all of it is stored or nothing.
        """
        key = {"study": study, "variant": variant, "seed": seed, "config_hash": config_hash}
        with self._write():
            run_id = self.start_run(**key, config=config, runtime=runtime, host=host, pid=pid)
            for entry in history:
                metrics = {k: v for k, v in entry.items() if k != "epoch"}
                epoch = int(entry["epoch"])
                self.log_epoch(run_id, epoch, metrics, complete=epoch != diverged_epoch)
            self.finish_run(run_id, status, diverged_epoch=diverged_epoch, error=error)
        return run_id

    @contextmanager
    def keep_alive(self, run_id: int) -> Iterator[None]:
        """Write the run's heartbeat now and every ``heartbeat`` seconds (from a thread) until the block ends.

        A heartbeat that cannot be written (the file locked for longer than ``timeout``) is logged and
        skipped; the run goes on.
        """
        stop = threading.Event()
        beats = ResultsStore(self.path, self.timeout)  # a connection of the thread's own

        def beat() -> None:
            try:
                while True:
                    try:
                        with beats._write() as c:
                            c.execute(
                                "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                                (_now(), run_id),
                            )
                    except sqlite3.Error as err:
                        logging.getLogger("normact.train").warning(
                            "run %d: heartbeat not written: %s", run_id, err
                        )
                    if stop.wait(self.heartbeat):
                        return
            finally:
                beats.close()

        thread = threading.Thread(target=beat, name=f"normact-heartbeat-{run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def delete_runs(self, run_ids: Iterable[int]) -> list[int]:
        """Delete these runs and their metrics; returns the ids deleted. A live running run is refused.

        Checkpoint files are left where they are (``normact.train.checkpoint_path`` of the run's config).
        """
        ids = list(dict.fromkeys(run_ids))
        records = {r.id: r for r in self.runs(ids=ids)}
        missing = [i for i in ids if i not in records]
        if missing:
            raise ValueError(f"no run with id {missing} in {str(self.path)!r}")
        live = [i for i in ids if records[i].status == "running"]
        if live:
            raise ValueError(
                f"run(s) {live} are still running; stop them first (a run whose process died is listed "
                "as interrupted and can be deleted)"
            )
        with self._write() as c:
            c.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
        return ids

    # -- reading --------------------------------------------------------------------------------

    def get_run(self, run_id: int) -> RunRecord:
        """The run with id ``run_id``."""
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id} in {str(self.path)!r}")
        return self._record(row)

    def find_run(self, study: str, variant: str, seed: int, config_hash: str) -> RunRecord | None:
        """The run with this key, or None."""
        row = self.conn.execute(
            "SELECT * FROM runs WHERE study = ? AND variant = ? AND seed = ? AND config_hash = ?",
            (study, variant, seed, config_hash),
        ).fetchone()
        return None if row is None else self._record(row)

    def runs(
        self,
        *,
        study: str | None = None,
        variant: str | None = None,
        status: str | Iterable[str] | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[RunRecord]:
        """Runs matching every filter given, ordered by id; ``status`` may be ``interrupted``."""
        where, args = [], []
        for column, value in (("study", study), ("variant", variant)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if ids is not None:
            ids = list(ids)
            where.append(f"id IN ({', '.join('?' * len(ids))})")
            args.extend(ids)
        statuses = None
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = [s for s in statuses if s not in READ_STATUSES]
            if bad:
                raise ValueError(f"unknown run status {bad}; choose from {list(READ_STATUSES)}")
            stored = {"running" if s == "interrupted" else s for s in statuses}
            where.append(f"status IN ({', '.join('?' * len(stored))})")
            args.extend(sorted(stored))
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        records = [self._record(row) for row in self.conn.execute(sql, args)]
        return records if statuses is None else [r for r in records if r.status in statuses]

    def metrics(
        self, run_ids: int | Iterable[int] | None = None, keys: str | Iterable[str] | None = None
    ) -> list[MetricRow]:
        """Metric rows for the given runs and keys (all when None), ordered by run, epoch, key.

        A key ending in ``/*`` selects a family, e.g. ``"weight_mean/*"``.
        """
        where, args = [], []
        if run_ids is not None:
            ids = [run_ids] if isinstance(run_ids, int) else list(run_ids)
            where.append(f"run_id IN ({', '.join('?' * len(ids))})")
            args.extend(ids)
        if keys is not None:
            keys = [keys] if isinstance(keys, str) else list(keys)
            parts = []
            for key in keys:
                if key.endswith("/*"):
                    parts.append("substr(key, 1, ?) = ?")
                    args.extend([len(key) - 1, key[:-1]])
                else:
                    parts.append("key = ?")
                    args.append(key)
            where.append(f"({' OR '.join(parts) or '0'})")
        sql = "SELECT run_id, epoch, key, value FROM metrics"
        sql += (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY run_id, epoch, key"
        return [
            MetricRow(r, e, k, math.nan if v is None else v) for r, e, k, v in self.conn.execute(sql, args)
        ]

    def final_metrics(self, run_ids: Iterable[int], keys: Iterable[str]) -> dict[int, dict[str, float]]:
        """``{run_id: {key: value}}`` at each run's last completed epoch (runs without one are absent)."""
        ids, keys = list(run_ids), list(keys)
        if not ids or not keys:
            return {}
        sql = f"""SELECT m.run_id, m.key, m.value FROM metrics m JOIN runs r ON r.id = m.run_id
                  WHERE m.epoch = r.epochs_done AND m.run_id IN ({", ".join("?" * len(ids))})
                  AND m.key IN ({", ".join("?" * len(keys))})"""
        out: dict[int, dict[str, float]] = {}
        for run_id, key, value in self.conn.execute(sql, [*ids, *keys]):
            out.setdefault(run_id, {})[key] = math.nan if value is None else value
        return out

    def history(self, run_id: int) -> list[dict[str, float]]:
        """Per-epoch metrics of one run: a list of ``{key: value}`` with an ``epoch`` entry, by epoch."""
        by_epoch: dict[int, dict[str, float]] = {}
        for row in self.metrics(run_id):
            by_epoch.setdefault(row.epoch, {"epoch": row.epoch})[row.key] = row.value
        return [by_epoch[e] for e in sorted(by_epoch)]

    def _record(self, row: tuple) -> RunRecord:
        values = list(row)
        values[5] = json.loads(values[5])
        record = RunRecord(*values)
        if record.status == "running" and not self._alive(record):
            record = replace(record, status="interrupted")
        return record

    def _alive(self, run: RunRecord) -> bool:
        """False when the run's process is gone: no such pid on this host, or no recent heartbeat."""
        if run.host == socket.gethostname() and run.pid is not None and not _pid_exists(run.pid):
            return False
        last = datetime.fromisoformat(run.heartbeat_at or run.updated_at)
        return (datetime.now(timezone.utc) - last).total_seconds() < STALE_BEATS * self.heartbeat


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _real(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
