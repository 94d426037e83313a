"""reproduce end to end on a tiny MNIST-format set: run, report, then resume without re-running."""

import logging

import pytest

from normact.experiments import reproduce
from normact.functional import fused_kernels
from normact.train import ResultsStore

from .conftest import write_tiny_mnist


@pytest.fixture
def data_dir(tmp_path):
    write_tiny_mnist(tmp_path / "data" / "mnist")
    return tmp_path / "data"


def test_reproduce_runs_reports_and_resumes(tmp_path, data_dir, tiny_preset, caplog):
    store = tmp_path / "results" / "normact.sqlite"
    caplog.set_level(logging.INFO)
    with fused_kernels(False):  # the pure-torch path: no kernel build inside the test
        first = reproduce(tiny_preset, "tiny", seeds=1, store=store, data_dir=data_dir)
    assert [(i.variant, i.seed, i.status) for i in first.items] == [
        ("relu", 0, "finished"),
        ("nrelu", 0, "finished"),
    ]
    assert "[2/2] test-lenet-tiny/nrelu/seed0: finished" in caplog.text
    assert first.path == tmp_path / "results" / tiny_preset / "tiny" / "report.md"
    assert "| NReLU |" in first.path.read_text() and (first.path.parent / "figure3.png").is_file()
    db = ResultsStore(store)
    done = {(r.variant, r.seed): r for r in db.runs()}
    history = db.history(done["nrelu", 0].id)
    assert [h["epoch"] for h in history] == [0, 1, 2]  # the initial model's probes, then two epochs
    assert "test_acc" not in history[0] and {"score", "weight_mean/features.0.weight"} <= set(history[0])
    assert {
        "test_acc",
        "score",
        "rho/features.1",
        "rho_prime/classifier.4",
        "weight_mean/features.0.weight",
    } <= set(history[1])
    assert (tmp_path / "results" / "runs" / tiny_preset).is_dir()  # checkpoints beside the store

    with fused_kernels(False):
        second = reproduce(tiny_preset, "tiny", store=store, data_dir=data_dir)  # the scale's 2 seeds
    assert [(i.variant, i.seed, i.status) for i in second.items] == [
        ("relu", 0, "skipped"), ("relu", 1, "finished"), ("nrelu", 0, "skipped"), ("nrelu", 1, "finished"),
    ]  # fmt: skip
    again = {(r.variant, r.seed): r for r in db.runs()}
    assert len(again) == 4
    for key, run in done.items():  # the finished runs were not touched
        assert (again[key].id, again[key].started_at, again[key].finished_at) == (
            run.id,
            run.started_at,
            run.finished_at,
        )
    assert second.report.summary.startswith("4 complete runs (2 variants, 2 runs each; seeds 0-1), 2 epochs")
    assert [v.claim for v in second.report.verdicts] == [  # the Swish/NSwish claims need those variants
        "NReLU converges faster than ReLU",
        "NReLU fails less often than ReLU",
        "The Score (eq. 22) is inversely related to the speed of convergence",
        "NReLU keeps the weight means closer to zero than ReLU (Fig. 4)",
    ]


def test_missing_data_stops_before_any_run(tmp_path, tiny_preset):
    store = tmp_path / "r.sqlite"
    with pytest.raises(FileNotFoundError, match="mnist"):
        reproduce(tiny_preset, "tiny", store=store, data_dir=tmp_path / "nothing")
    assert not store.exists() or ResultsStore(store).runs() == []
