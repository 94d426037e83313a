"""Sweeps on a local Ray instance: the same store as the local engine; a killed worker's run is retried."""

import functools
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from normact.train import ResultsStore
from normact.train.ray_engine import _check_answers, import_ray
from normact.train.sweep import Sweep, run_sweep

from .tinyrun import kill_once, make_splits, tiny_config

ray = pytest.importorskip("ray", reason="the Ray engine needs normact[ray]")
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module; its workers import these tests' helpers."""
    path = os.pathsep.join([str(TESTS.parent / "src"), str(TESTS), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def _sweep(out_dir, **variants):
    return Sweep(study="grid", base=tiny_config(out_dir), variants=variants, seeds=[0, 1])


def _rows(store):
    store = ResultsStore(store)
    out = {}
    for r in store.runs():
        history = [{k: v for k, v in h.items() if k != "time"} for h in store.history(r.id)]
        out[r.variant, r.seed, r.config_hash] = (r.status, r.epochs_done, history)
    return out


def test_ray_sweep_equals_the_local_engine(tmp_path, ray_instance):
    variants = {"relu": {}, "tanh": {"model.act": "tanh"}}
    local = run_sweep(_sweep(tmp_path / "a", **variants), tmp_path / "local.sqlite", data_fn=make_splits)
    on_ray = run_sweep(
        _sweep(tmp_path / "b", **variants), tmp_path / "ray.sqlite", data_fn=make_splits, engine="ray"
    )
    assert [(i.variant, i.seed, i.status) for i in on_ray] == [(i.variant, i.seed, i.status) for i in local]
    assert len(on_ray) == 4 and _rows(tmp_path / "ray.sqlite") == _rows(tmp_path / "local.sqlite")
    row = ResultsStore(tmp_path / "ray.sqlite").runs()[0]
    assert (row.device, row.world_size, row.precision) == ("cpu", 1, "fp32") and row.pid != os.getpid()
    again = run_sweep(
        _sweep(tmp_path / "b", **variants), tmp_path / "ray.sqlite", data_fn=make_splits, engine="ray"
    )
    assert [i.status for i in again] == ["skipped"] * 4


def test_a_killed_worker_is_retried_and_resumes(tmp_path, ray_instance):
    sweep = Sweep(study="killed", base=tiny_config(tmp_path / "ckpt"), seeds=[0])
    callbacks = functools.partial(kill_once, str(tmp_path))
    (item,) = run_sweep(
        sweep, tmp_path / "ray.sqlite", data_fn=make_splits, callbacks_fn=callbacks, engine="ray"
    )
    assert item.status == "finished" and (tmp_path / "default-seed0.killed").exists()  # it died once
    ref = Sweep(study="killed", base=tiny_config(tmp_path / "ref"), seeds=[0])
    run_sweep(ref, tmp_path / "local.sqlite", data_fn=make_splits)
    assert _rows(tmp_path / "ray.sqlite") == _rows(tmp_path / "local.sqlite")


def test_resources_and_addresses_are_checked(tmp_path, ray_instance):
    with pytest.raises(ValueError, match=r"--gpus-per-run 1 is more than any node of the Ray cluster has"):
        run_sweep(
            _sweep(tmp_path, relu={}),
            tmp_path / "r.sqlite",
            data_fn=make_splits,
            engine="ray",
            gpus_per_run=1,
        )
    with pytest.raises(ValueError, match=r"--address 127.0.0.1:1: no Ray cluster answers there"):
        _check_answers("127.0.0.1:1", timeout=2)
    with pytest.raises(ValueError, match=r"--address must be HOST:PORT"):
        _check_answers("head-node")


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ValueError, match=r"pip install 'normact\[ray\]'"):
        import_ray()


def test_ctrl_c_cancels_the_tasks_and_leaves_only_whole_runs(tmp_path, ray_instance):
    """SIGINT once the first run is in the store: the others are cancelled, none half written."""
    store_path = tmp_path / "ray.sqlite"
    # the two short runs take both CPUs first; the long ones are still running when SIGINT comes
    variants = {"short": {"train.epochs": 2}, "long": {"train.epochs": 200}}
    sweep = Sweep(study="ctrl-c", base=tiny_config(tmp_path / "ckpt"), variants=variants, seeds=[0, 1])
    sent = threading.Event()

    def interrupt_after_the_first_run():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not sent.is_set():
            if store_path.exists() and ResultsStore(store_path).runs(status="finished"):
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                sent.set()
            time.sleep(0.05)

    watcher = threading.Thread(target=interrupt_after_the_first_run, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, store_path, data_fn=make_splits, engine="ray")
    watcher.join()
    assert sent.is_set()
    runs = ResultsStore(store_path).runs()
    assert {r.variant for r in runs} == {"short"} and {r.status for r in runs} == {"finished"}
    for r in runs:  # whole runs only: every epoch stored
        assert [h["epoch"] for h in ResultsStore(store_path).history(r.id)] == [1, 2]
    again = run_sweep(sweep, store_path, data_fn=make_splits, engine="ray")
    assert [i.status for i in again].count("skipped") == len(runs)
    assert {i.status for i in again} <= {"skipped", "finished"} and len(ResultsStore(store_path).runs()) == 4
