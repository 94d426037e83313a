"""Interrupted runs (heartbeat, SIGKILL), deleting and pruning runs, exporting them, the config hash shown."""

import csv
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from normact.cli import main
from normact.train import ResultsStore, train

from .tinyrun import make_splits, tiny_config

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"

_LONG_RUN = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from train.tinyrun import make_splits, tiny_config
    from normact.train import ResultsStore, train

    class Slow:
        def on_epoch_end(self, model, epoch, batches):
            time.sleep(0.5)
            return {}

    train(tiny_config(None, "train.epochs=200"), ResultsStore(sys.argv[3], heartbeat=0.1), [Slow()],
          data=make_splits())
    """
)


def _beats(path):
    """The run's heartbeat_at, or None before the run exists."""
    if not path.exists():
        return None
    with closing(sqlite3.connect(path)) as conn:
        try:
            row = conn.execute("SELECT heartbeat_at FROM runs").fetchone()
        except sqlite3.OperationalError:  # the table is not created yet
            return None
    return None if row is None else row[0]


def test_a_run_killed_with_sigkill_reads_as_interrupted(tmp_path, capsys):
    path = tmp_path / "r.sqlite"
    script = tmp_path / "run.py"
    script.write_text(_LONG_RUN)
    proc = subprocess.Popen([sys.executable, str(script), str(SRC), str(TESTS), str(path)])
    seen, deadline = set(), time.monotonic() + 120
    while len(seen - {None}) < 3:  # three heartbeats: the run is alive and its heartbeat thread writes
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended or never started"
        seen.add(_beats(path))
        time.sleep(0.02)
    (run,) = ResultsStore(path).runs()
    assert run.status == "running" and run.pid == proc.pid
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    store = ResultsStore(path)
    assert store.get_run(run.id).status == "interrupted"  # its pid is gone from this host
    assert [r.id for r in store.runs(status="interrupted")] == [run.id] and not store.runs(status="running")
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "running"  # as stored

    assert main(["runs", "--store", str(path), "--status", "interrupted", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "interrupted" and row["config_hash"] == run.config_hash

    # seen from another host only the heartbeat tells: stale after 6 missed beats of the reader's period
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("UPDATE runs SET host = 'elsewhere'")
    assert ResultsStore(path, heartbeat=60.0).get_run(run.id).status == "running"
    time.sleep(0.7)
    assert ResultsStore(path, heartbeat=0.1).get_run(run.id).status == "interrupted"


def test_rm_prune_and_a_live_run_is_kept(tmp_path, capsys):
    path = str(tmp_path / "r.sqlite")
    store = ResultsStore(path)
    done = train(tiny_config(None, "train.epochs=1"), store, data=make_splits()).run_id
    failed = store.start_run(study="tiny", variant="bad", seed=0, config_hash="f" * 64, config={})
    store.log_epoch(failed, 1, {"test_acc": 0.1})
    store.finish_run(failed, "failed", error="boom")
    live = store.start_run(study="tiny", variant="live", seed=0, config_hash="l" * 64, config={})

    assert main(["runs", "--store", path, "--rm", str(live)]) == 2
    assert "run(s) [3] are still running" in capsys.readouterr().err
    assert main(["runs", "--store", path, "--rm", "99"]) == 2
    assert "no run with id [99]" in capsys.readouterr().err
    assert main(["runs", "--store", path, "--prune", "failed"]) == 0
    assert capsys.readouterr().out.strip() == f"deleted 1 failed run(s) from {path}"
    assert [r.id for r in store.runs()] == [done, live] and not store.metrics(failed)
    store.finish_run(live, "failed")
    assert main(["runs", "--store", path, "--rm", str(live), str(done)]) == 0
    assert not store.runs() and not store.metrics()


def test_export_csv_and_parquet(tmp_path, capsys):
    path = str(tmp_path / "r.sqlite")
    store = ResultsStore(path)
    result = train(tiny_config(None, "train.epochs=2"), store, data=make_splits())
    store.start_run(study="other", variant="v", seed=0, config_hash="c" * 64, config={})
    assert main(["runs", "--store", path, "--study", "tiny", "--export", str(tmp_path / "runs.csv")]) == 0
    with open(tmp_path / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], r["epoch"], r["status"]) for r in rows] == [
        ("1", "1", "finished"),
        ("1", "2", "finished"),
    ]
    for row, epoch in zip(rows, result.history, strict=True):
        assert float(row["test_acc"]) == epoch["test_acc"] and float(row["train_loss"]) == epoch["train_loss"]
        assert row["config_hash"] == result.config_hash
    pq = pytest.importorskip("pyarrow.parquet")
    assert main(["runs", "--store", path, "--export", str(tmp_path / "runs.parquet")]) == 0
    table = pq.read_table(tmp_path / "runs.parquet").to_pylist()
    assert [(r["study"], r["epoch"]) for r in table] == [("tiny", 1), ("tiny", 2), ("other", None)]
    assert table[1]["test_acc"] == result.history[1]["test_acc"]
