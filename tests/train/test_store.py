import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from normact.train import ResultsStore
from normact.train.store import StoreError

STORE_PY = str(Path(__file__).resolve().parents[2] / "src" / "normact" / "train" / "store.py")


def _start(store, variant="v", seed=0, h="h0", **kw):
    return store.start_run(study="s", variant=variant, seed=seed, config_hash=h, config={"k": 1}, **kw)


def test_schema_wal_and_round_trip(tmp_path):
    path = tmp_path / "sub" / "r.sqlite"
    store = ResultsStore(path)
    run = _start(store)
    store.log_epoch(
        run, 1, {"train_loss": 1.5, "weight_mean/conv1": -0.25, "score": math.nan, "big": math.inf}
    )
    store.log_epoch(run, 2, {"train_loss": 1.25, "weight_mean/conv1": -0.5, "score": 3.0, "big": 1.0})
    store.finish_run(run, "finished")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rec = store.get_run(run)
    assert (rec.study, rec.variant, rec.seed, rec.config_hash, rec.config) == ("s", "v", 0, "h0", {"k": 1})
    assert (rec.status, rec.epochs_done, rec.diverged_epoch, rec.error) == ("finished", 2, None, None)
    assert rec.finished_at is not None and rec.pid == os.getpid()
    hist = store.history(run)
    assert [h["epoch"] for h in hist] == [1, 2]
    assert (
        hist[0]["weight_mean/conv1"] == -0.25 and math.isnan(hist[0]["score"]) and hist[0]["big"] == math.inf
    )
    assert [m.value for m in store.metrics(run, "weight_mean/*")] == [-0.25, -0.5]
    assert [m.key for m in store.metrics(run, ["train_loss", "score"])] == ["score", "train_loss"] * 2
    assert store.final_metrics([run], ["train_loss", "score"]) == {run: {"train_loss": 1.25, "score": 3.0}}


_V1_RUNS = """CREATE TABLE runs (
    id INTEGER PRIMARY KEY, study TEXT NOT NULL, variant TEXT NOT NULL, seed INTEGER NOT NULL,
    config_hash TEXT NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL, epochs_done INTEGER NOT NULL
    DEFAULT 0, diverged_epoch INTEGER, error TEXT, created_at TEXT NOT NULL, started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, finished_at TEXT, host TEXT, pid INTEGER,
    UNIQUE (study, variant, seed, config_hash))"""


def test_a_version_1_store_is_upgraded_in_place(tmp_path):
    # A store as normact wrote it before the device columns existed, written here by hand.
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(_V1_RUNS)
    conn.execute(
        "INSERT INTO runs VALUES (7, 's', 'v', 3, 'h', '{\"k\": 2}', 'finished', 4, NULL, NULL,"
        " 't0', 't0', 't1', 't1', 'host', 11)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = ResultsStore(path)
    old = store.get_run(7)
    assert (old.variant, old.seed, old.config, old.status, old.epochs_done) == (
        "v",
        3,
        {"k": 2},
        "finished",
        4,
    )
    assert (old.device, old.precision, old.world_size, old.heartbeat_at) == (None, None, None, None)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2
    new = _start(store, seed=4)
    assert store.get_run(new).status == "running" and len(store.runs()) == 2


def test_a_store_of_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    ResultsStore(path).runs()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 99.*upgrade normact"):
        ResultsStore(path).runs()


def test_unique_key_restart_and_resume_trim_metrics(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    run = _start(store)
    for epoch in (1, 2, 3):
        store.log_epoch(run, epoch, {"loss": float(epoch)})
    store.finish_run(run, "failed", error="Traceback: boom")
    assert store.get_run(run).error == "Traceback: boom"
    assert _start(store, resume_epoch=2) == run  # same key, same row
    rec = store.get_run(run)
    assert (rec.status, rec.error, rec.epochs_done) == ("running", None, 2)
    assert [m.epoch for m in store.metrics(run)] == [1, 2]
    assert _start(store) == run and store.metrics(run) == []  # a fresh start drops every epoch
    other = _start(store, h="h1")
    assert other != run and len(store.runs()) == 2


def test_queries_and_status_checks(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    a, b, c = _start(store, "a"), _start(store, "b"), _start(store, "b", seed=1)
    store.finish_run(a, "finished")
    store.finish_run(b, "diverged", diverged_epoch=4)
    assert [r.id for r in store.runs(variant="b")] == [b, c]
    assert [r.id for r in store.runs(status=["finished", "diverged"])] == [a, b]
    assert store.get_run(b).diverged_epoch == 4
    assert store.find_run("s", "b", 1, "h0").id == c and store.find_run("s", "b", 2, "h0") is None
    with pytest.raises(ValueError, match="diverged_epoch is required"):
        store.finish_run(c, "diverged")
    with pytest.raises(ValueError, match="final status must be one of"):
        store.finish_run(c, "running")
    with pytest.raises(ValueError, match="unknown run status"):
        store.runs(status="done")
    with pytest.raises(KeyError, match="no run with id 99"):
        store.get_run(99)


_WRITER = textwrap.dedent(
    """
    import importlib.util, sys, time
    from pathlib import Path
    # store.py needs only the standard library: load it alone to keep the processes light
    spec = importlib.util.spec_from_file_location("store", sys.argv[1])
    store_module = sys.modules["store"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(store_module)
    ResultsStore = store_module.ResultsStore
    path, worker, sync = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    store = ResultsStore(path)
    (sync / f"ready{worker}").touch()
    while not (sync / "go").exists():  # all start writing together, after their imports
        time.sleep(0.001)
    key = dict(study="c", config_hash="x", config={})
    shared = store.start_run(variant="shared", seed=0, resume_epoch=10**6, **key)
    for seed in range(16):
        run = store.start_run(variant=f"w{worker}", seed=seed, **key)
        for epoch in range(1, 6):
            store.log_epoch(run, epoch, {f"m{i}": worker + seed + epoch + i / 10 for i in range(4)})
            store.log_epoch(shared, epoch, {f"w{worker}/s{seed}": float(epoch)})
        store.finish_run(run, "finished")
    """
)


def test_concurrent_writers_lose_nothing(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    path = tmp_path / "r.sqlite"
    workers = 4
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), STORE_PY, str(path), str(w), str(tmp_path)], stderr=subprocess.PIPE
        )
        for w in range(workers)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready*"))) < workers:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a writer did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    store = ResultsStore(path)
    runs = store.runs(study="c")
    assert len(runs) == workers * 16 + 1
    own = [r for r in runs if r.variant != "shared"]
    assert all(r.status == "finished" and r.epochs_done == 5 for r in own)
    for r in own:
        w = int(r.variant[1:])
        rows = store.metrics(r.id)
        assert len(rows) == 5 * 4
        assert all(m.value == w + r.seed + m.epoch + int(m.key[1:]) / 10 for m in rows)
    shared = store.find_run("c", "shared", 0, "x")
    assert len(store.metrics(shared.id)) == workers * 16 * 5


def test_runtime_columns_are_stored_and_checked(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    key = {"study": "s", "variant": "v", "seed": 0, "config_hash": "h", "config": {}}
    run_id = store.start_run(**key, runtime={"device": "cuda:1", "precision": "bf16", "world_size": 4})
    row = store.get_run(run_id)
    assert (row.device, row.precision, row.world_size, row.device_name) == ("cuda:1", "bf16", 4, None)
    with pytest.raises(ValueError, match=r"unknown runtime columns \['gpu'\]"):
        store.start_run(**key, runtime={"gpu": "a100"})


def test_record_run_writes_all_or_nothing(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    key = {"study": "s", "variant": "v", "seed": 0, "config_hash": "h", "config": {}}
    history = [{"epoch": 1, "test_acc": 0.5}, {"epoch": 2, "test_acc": float("nan")}]
    with pytest.raises(ValueError, match="diverged_epoch is required"):
        store.record_run(**key, status="diverged", history=history)  # fails at its last write
    assert store.runs() == [] and store.metrics() == []
    run_id = store.record_run(**key, status="diverged", history=history, diverged_epoch=2, error="nan loss")
    row = store.get_run(run_id)
    assert (row.status, row.epochs_done, row.diverged_epoch, row.error) == ("diverged", 1, 2, "nan loss")
    assert [h["epoch"] for h in store.history(run_id)] == [1, 2]
