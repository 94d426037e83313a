"""Sweeps on a local Ray instance: the same store as the local engine; a killed worker's run is retried."""

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from normact.train import ResultsStore, config_to_dict
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


def test_ctrl_c_cancels_the_tasks_and_leaves_only_whole_runs(tmp_path):
    """SIGINT to `normact sweep --engine ray` once a run is stored: it stops, every stored run is whole."""
    store = tmp_path / "ray.sqlite"
    base = config_to_dict(tiny_config(tmp_path / "ckpt", "data.name=tinyrun:make_splits"))
    # two CPUs: two runs of seconds (a), then two that would take minutes (b) and are still running
    # when SIGINT comes, however fast the machine (b at 200 epochs could end within the poll's delay)
    spec = {"study": "ctrl-c", "seeds": [0, 1], "config": base,
            "variants": {"a": {"train.epochs": 150}, "b": {"train.epochs": 30000}}}  # fmt: skip
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    path = os.pathsep.join([str(TESTS.parent / "src"), str(TESTS / "train")])
    # Ctrl-C as a terminal delivers it: a test run started in the background of a shell inherits SIGINT
    # ignored, and Python keeps it so; the sweep installs Python's handler itself
    main = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from normact.cli import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    cmd = [sys.executable, "-c", main, "sweep", str(tmp_path / "sweep.yaml"), "--engine", "ray",
           "--store", str(store)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": path, "RAY_ADDRESS": ""}  # a Ray instance of its own
    # the sweep and its Ray instance in a process group of their own
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if store.exists() and ResultsStore(store).runs(status="finished"):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the sweep ended before any run was stored"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:  # never wait for the long runs: whatever is left of the sweep ends with the test
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130 and "normact sweep: interrupted; the same command resumes" in out, out[
        -2000:
    ]
    assert "Traceback" not in out
    runs = ResultsStore(store).runs()
    assert 1 <= len(runs) <= 2 and {r.status for r in runs} == {"finished"}, out[-2000:]
    for r in runs:  # whole runs only: every epoch stored
        epochs = spec["variants"][r.variant]["train.epochs"]
        assert [h["epoch"] for h in ResultsStore(store).history(r.id)] == list(range(1, epochs + 1))
