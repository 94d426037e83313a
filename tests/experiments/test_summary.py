import numpy as np
import pytest
from scipy import stats

from normact.cli import main
from normact.train import ResultsStore

CURVES = {  # variant -> seed -> test_acc per epoch
    "a": {0: [0.5, 0.7, 0.8], 1: [0.4, 0.75, 0.7], 2: [0.6, 0.65, 0.9]},
    "b": {0: [0.3, 0.5, 0.6], 1: [0.2, 0.55, 0.5]},
}


@pytest.fixture
def store(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    for variant, seeds in CURVES.items():
        for seed, accs in seeds.items():
            run = store.start_run(
                study="mine", variant=variant, seed=seed, config_hash=f"h{variant}", config={}
            )
            for epoch, acc in enumerate(accs, 1):
                store.log_epoch(run, epoch, {"test_acc": acc, "test_loss": 1 - acc})
            store.finish_run(run, "finished")
    run = store.start_run(study="mine", variant="b", seed=2, config_hash="hb", config={})
    store.log_epoch(run, 1, {"test_acc": 0.1, "test_loss": 2.0})
    store.finish_run(run, "diverged", diverged_epoch=2)
    store.finish_run(
        store.start_run(study="mine", variant="b", seed=3, config_hash="hb", config={}), "failed"
    )
    store.finish_run(
        store.start_run(study="other", variant="x", seed=0, config_hash="x", config={}), "failed"
    )
    return store


def test_report_for_a_study_has_the_statistics_of_every_variant(store, capsys):
    assert main(["report", "--study", "mine", "--store", str(store.path)]) == 0
    out = store.path.parent / "mine" / "summary"
    text = (out / "report.md").read_text()
    assert capsys.readouterr().out.startswith(text)
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    final_a = np.array([0.8, 0.7, 0.9])  # last epochs of variant a
    low, high = stats.t.interval(0.95, 2, loc=final_a.mean(), scale=stats.sem(final_a))
    assert f"| a | 3 | {final_a.mean():.4f} [{low:.4f}, {high:.4f}] | 0.8000 [0.7000, 0.9000] (75%) |" in text
    assert "| a | 3 | 0 | – |" in text and "| b | 2 | 1 | seed 3 (failed) |" in text
    assert "- b: seed 2 at epoch 2" in text
    # best epochs of a by accuracy: 3, 2, 3 -> median 3 (2-3); by loss the same epochs
    assert "| 0.8000 [0.7000, 0.9000] (75%) | 3 (2-3) |" in text
    final_b = np.array([0.6, 0.5])
    assert f"| b | 2 | {final_b.mean():.4f} [" in text


def test_unknown_study_names_the_studies(store, capsys):
    assert main(["report", "--study", "nope", "--store", str(store.path)]) == 2
    err = capsys.readouterr().err
    assert "no run of study 'nope'" in err and "its studies: ['mine', 'other']" in err
