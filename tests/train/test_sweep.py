import os
from pathlib import Path

import pytest
import yaml

from normact.train import ConfigError, ResultsStore, checkpoint_path, config_hash, config_to_dict, train
from normact.train.sweep import Sweep, load_sweep, run_sweep

from .tinyrun import make_splits, tiny_config


def _sweep(tmp_path, **variants):
    base = tiny_config(tmp_path / "runs")
    return Sweep(
        study="grid",
        base=base,
        variants=variants or {"relu": {}, "tanh": {"model.act": "tanh"}},
        seeds=[0, 1],
    )


def _results(store):
    return {
        (r.variant, r.seed): (
            r.status,
            [{k: v for k, v in h.items() if k != "time"} for h in store.history(r.id)],
        )
        for r in store.runs()
    }


class FailAt:
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, model, epoch, batches):
        if epoch == self.epoch:
            raise RuntimeError("probe exploded")
        return {}


def fail_tanh_at_epoch_2(cfg):
    return [FailAt(2)] if cfg.model.act == "tanh" else []


def test_sweep_runs_grid_then_skips_what_is_done(tmp_path):
    sweep = _sweep(
        tmp_path,
        ok={},
        diverges={"schedule.name": "multistep", "schedule.milestones": [1], "schedule.gamma": 1e15},
        crashes={"model.kwargs.width": -1},
    )
    store_path = tmp_path / "r.sqlite"
    items = run_sweep(sweep, store_path, data_fn=make_splits)
    assert [(i.variant, i.seed, i.status) for i in items] == [
        ("ok", 0, "finished"), ("ok", 1, "finished"),
        ("diverges", 0, "diverged"), ("diverges", 1, "diverged"),
        ("crashes", 0, "failed"), ("crashes", 1, "failed"),
    ]  # fmt: skip
    store = ResultsStore(store_path)
    failed = store.runs(status="failed")
    assert len(failed) == 2 and all(
        "Traceback" in r.error and "negative dimension" in r.error for r in failed
    )
    assert "negative dimension" in items[4].error
    assert {r.diverged_epoch for r in store.runs(status="diverged")} == {2}
    again = run_sweep(sweep, store_path, data_fn=make_splits)
    assert [i.status for i in again] == ["skipped"] * 4 + ["failed"] * 2  # failures are retried
    assert len(store.runs()) == 6


def test_a_normalized_activation_that_diverges_is_a_diverged_run_not_retried(tmp_path):
    blow_up = {"schedule.name": "multistep", "schedule.milestones": [1], "schedule.gamma": 1e15}
    nrelu = {"model.name": "mlp", "model.act": "nrelu", "model.kwargs": {"depth": 2, "width": 8}}
    sweep = _sweep(tmp_path, nrelu={**nrelu, **blow_up})
    store_path = tmp_path / "r.sqlite"
    items = run_sweep(sweep, store_path, data_fn=make_splits)
    assert [i.status for i in items] == ["diverged", "diverged"]
    assert all("non-finite batch statistics in layer" in i.error for i in items)
    assert [i.status for i in run_sweep(sweep, store_path, data_fn=make_splits)] == ["skipped", "skipped"]


def test_interrupted_sweep_resumes_from_checkpoints(tmp_path):
    sweep = _sweep(tmp_path)
    store_path = tmp_path / "r.sqlite"
    first = run_sweep(sweep, store_path, data_fn=make_splits, callbacks_fn=fail_tanh_at_epoch_2)
    assert [i.status for i in first] == ["finished", "finished", "failed", "failed"]
    assert "probe exploded" in first[2].error
    tanh0 = sweep.configs()[2]
    assert checkpoint_path(tanh0).exists()
    second = run_sweep(sweep, store_path, data_fn=make_splits)
    assert [i.status for i in second] == ["skipped", "skipped", "finished", "finished"]
    direct = train(tiny_config(None, "model.act=tanh"), data=make_splits())
    store = ResultsStore(store_path)
    resumed = store.find_run("grid", "tanh", 0, config_hash(tanh0))
    assert [{k: v for k, v in h.items() if k != "time"} for h in store.history(resumed.id)] == [
        {k: v for k, v in h.items() if k != "time"} for h in direct.history
    ]


@pytest.mark.slow  # two fresh worker processes each import torch
def test_parallel_workers_give_the_same_results(tmp_path):
    serial, parallel = tmp_path / "serial.sqlite", tmp_path / "parallel.sqlite"
    run_sweep(_sweep(tmp_path / "a", relu={}), serial, jobs=1, data_fn=make_splits)
    items = run_sweep(_sweep(tmp_path / "b", relu={}), parallel, jobs=2, data_fn=make_splits)
    assert [i.status for i in items] == ["finished"] * 2
    assert _results(ResultsStore(serial)) == _results(ResultsStore(parallel))


def test_load_sweep_file(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(config_to_dict(tiny_config(tmp_path / "runs"))))
    spec = {
        "study": "s",
        "seeds": [3, 4],
        "config": "base.yaml",
        "variants": {"a": ["optim.lr=0.5", "model.act=tanh"], "b": {"optim.lr": 0.25}, "c": None},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    sweep = load_sweep(tmp_path / "sweep.yaml", ["train.epochs=2"])
    configs = sweep.configs()
    assert [(c.study, c.variant, c.train.seed) for c in configs] == [
        ("s", v, s) for v in ("a", "b", "c") for s in (3, 4)
    ]
    assert [c.optim.lr for c in configs[::2]] == [0.5, 0.25, 0.05]
    assert configs[0].model.act == "tanh" and all(c.train.epochs == 2 for c in configs)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"seed": [1]}, r"unknown sweep key 'seed'; valid keys: study, seeds, config, variants"),
        ({"variants": {"a": {"optim.lrr": 1}}}, r"unknown config key 'optim.lrr'"),
        ({"variants": {"a": ["optim.lr"]}}, r"override 'optim.lr' is not of the form key=value"),
        ({"variants": {"a": 3}}, r"variant 'a' must be a mapping or a list of key=value"),
        ({"seeds": ["x"]}, r"'seeds' expects a list of integers"),
    ],
)
def test_bad_sweep_files(spec, message):
    with pytest.raises(ConfigError, match=message):
        load_sweep(spec)


@pytest.mark.slow  # each run is a torchrun job of two fresh processes
def test_runs_of_two_processes_each_under_torchrun(tmp_path, monkeypatch):
    here = Path(__file__).parent  # tinyrun, imported by the runs' data.name, registers tiny_mlp
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(here.parents[1] / "src"), str(here)]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sweep = Sweep(
        study="ddp",
        base=tiny_config(tmp_path / "runs", "data.name=tinyrun:make_splits", "train.epochs=2"),
        variants={"ok": {}, "crashes": {"model.kwargs.width": -1}},
        seeds=[0],
    )
    store_path = tmp_path / "r.sqlite"
    items = run_sweep(sweep, store_path, nproc=2)
    assert [(i.variant, i.status) for i in items] == [("ok", "finished"), ("crashes", "failed")]
    assert "exited with code 1" in items[1].error and "negative dimension" in items[1].error
    store = ResultsStore(store_path)
    ok = store.get_run(items[0].run_id)
    assert ok.world_size == 2 and ok.epochs_done == 2  # rank 0's row, the only one
    assert [h["epoch"] for h in store.history(ok.id)] == [1, 2]
    assert store.get_run(items[1].run_id).status == "failed"
    sweep.variants.pop("crashes")  # a failed run would be retried: another job
    assert [i.status for i in run_sweep(sweep, store_path, nproc=2)] == ["skipped"]


def test_nproc_goes_with_one_local_job_and_the_configs_own_data(tmp_path):
    sweep = _sweep(tmp_path)
    with pytest.raises(ValueError, match=r"--nproc 2 trains one run at a time .* and --jobs 1"):
        run_sweep(sweep, tmp_path / "r.sqlite", nproc=2, jobs=2)
    with pytest.raises(ValueError, match="a custom data_fn or callbacks_fn cannot go with it"):
        run_sweep(sweep, tmp_path / "r.sqlite", nproc=2, data_fn=make_splits)
    with pytest.raises(ValueError, match="nproc must be >= 1, got 0"):
        run_sweep(sweep, tmp_path / "r.sqlite", nproc=0)
