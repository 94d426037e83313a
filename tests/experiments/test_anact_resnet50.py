"""anact-resnet50: its runs, the analysis on a synthetic store, and the smoke scale end to end."""

import dataclasses
import pickle

import numpy as np
import pytest
from scipy import stats as sps

from normact.experiments import build_report, get_preset, list_presets, register_preset, render_markdown
from normact.experiments import reproduce as run_reproduce
from normact.functional import fused_kernels
from normact.train import ResultsStore, config_hash, config_to_dict

TABLE4 = ["tanh", "leaky_relu", "elu", "selu", "relu", "nrelu", "swish", "nswish"]


def write_tiny_cifar100(folder, n_train=64, n_test=32, seed=0):
    """CIFAR-100's python files (train, test, meta) with random images and fine/coarse labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        batch = {b"data": images, b"fine_labels": rng.integers(0, 100, n).tolist(),
                 b"coarse_labels": rng.integers(0, 20, n).tolist()}  # fmt: skip
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"c{i}".encode() for i in range(20)]}  # fmt: skip
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def test_anact_resnet50_runs_follow_the_papers_recipe():
    preset = get_preset("anact-resnet50")
    assert list(preset.variants) == TABLE4
    assert set(preset.scales) == {"smoke", "cpu", "full", "full-tiny-imagenet"}
    full = {c.variant: c for c in preset.sweep("full").configs() if c.train.seed == 0}
    relu, nswish = full["relu"], full["nswish"]
    assert (relu.model.name, relu.data.name, relu.train.epochs, relu.data.batch_size) == (
        "resnet50", "cifar100", 200, 128)  # fmt: skip
    assert (relu.optim.name, relu.optim.lr, relu.optim.clip_grad_norm, relu.schedule.warmup_epochs) == (
        "adamw", 1e-3, 3.0, 1.0)  # fmt: skip
    assert (relu.model.init, nswish.model.init, nswish.model.act) == ("he", "xavier", "nswish")
    tiny = preset.sweep("full-tiny-imagenet").base
    assert tiny.data.name == "tiny_imagenet" and preset.scale("full-tiny-imagenet").analysis == {
        "paper_table": 5
    }
    assert len(preset.sweep("full").seeds) == 4 and tuple(c.text for c in preset.claims) == (
        "NReLU reaches a higher top-1 accuracy than ReLU (Tables 4-5)",
        "NSwish reaches a higher top-1 accuracy than Swish (Tables 4-5)",
    )
    cpu = preset.sweep("cpu")  # the stand-in: every block of ResNet50, narrow, on Fashion-MNIST
    assert len(cpu.seeds) == 4 and list(cpu.variants) == TABLE4
    assert (cpu.base.data.name, cpu.base.model.kwargs["stem"], cpu.base.model.kwargs["width"]) == (
        "fashion_mnist", "imagenet", 0.0625)  # fmt: skip
    assert (cpu.base.optim.name, cpu.base.optim.lr) == ("adamw", 1e-3)  # the paper's recipe otherwise


@pytest.fixture(scope="module")
def resnet_synth():
    name = "test-resnet50-synth"
    if name not in list_presets():
        base = get_preset("anact-resnet50")
        scale = dataclasses.replace(base.scale("full-tiny-imagenet"), name="s", config={"train.epochs": 2})
        variants = {v: base.variants[v] for v in ("relu", "nrelu", "swish", "nswish")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"s": scale}))
    return name


BEST = {"relu": [0.5, 0.52, 0.51, 0.49], "nrelu": [0.55, 0.56, 0.6, 0.57], "swish": [0.5, 0.6, 0.4, 0.55],
        "nswish": [0.52, 0.45, 0.58, 0.51]}  # fmt: skip


def test_analysis_on_a_synthetic_store(tmp_path, resnet_synth):
    db = ResultsStore(tmp_path / "r.sqlite")
    for cfg in get_preset(resnet_synth).sweep("s").configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        best = BEST[cfg.variant][cfg.train.seed]
        db.log_epoch(run_id, 1, {"test_acc": best - 0.1, "test_acc5": 0.7, "score": 1.0, "time": 1.0})
        db.log_epoch(run_id, 2, {"test_acc": best, "test_acc5": best + 0.3, "score": 2.0, "time": 1.0})
        db.finish_run(run_id, "finished")
    report = build_report(resnet_synth, "s", db.path)
    text = render_markdown(report)
    assert "| NReLU | 56.50 [55.00, 60.00] |" in text
    assert "| 86.50 | 1.500 | 56.01 | 78.99 | 4 |" in text  # top-5, Score, Table 5's NReLU beside
    assert "| NSwish | 56.55 | 79.25 |" in text  # Table 5 as printed
    verdicts = {v.claim: v for v in report.verdicts}
    relu = verdicts["NReLU reaches a higher top-1 accuracy than ReLU (Tables 4-5)"]
    assert relu.status == "supports" and f"p = {1 / 70:.3g} for the claim" in relu.evidence
    swish = verdicts["NSwish reaches a higher top-1 accuracy than Swish (Tables 4-5)"]
    p = sps.mannwhitneyu(BEST["nswish"], BEST["swish"], alternative="greater", method="exact").pvalue
    assert swish.status == "inconclusive" and f"p = {p:.3g} for the claim" in swish.evidence


def test_smoke_scale_end_to_end(tmp_path):
    """The YAML's smoke scale (1/32 width, 32 + 16 images, one epoch) for NReLU (ANAct's block rule)."""
    name = "test-resnet50-smoke"
    if name not in list_presets():
        base = get_preset("anact-resnet50")
        variants = {"nrelu": base.variants["nrelu"]}
        register_preset(dataclasses.replace(base, name=name, variants=variants))
    write_tiny_cifar100(tmp_path / "data" / "cifar-100-python")
    with fused_kernels(False):
        result = run_reproduce(name, "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    assert [(i.variant, i.status) for i in result.items] == [("nrelu", "finished")]
    assert "| NReLU |" in result.path.read_text() and (result.path.parent / "accuracy.png").is_file()
    assert result.report.verdicts == []  # no pair of a claim
    history = ResultsStore(tmp_path / "r.sqlite").history(result.items[0].run_id)
    assert [h["epoch"] for h in history] == [0, 1] and "score" in history[0]  # the initial model's Score
    assert {"test_acc", "score", "train_loss"} <= set(history[1])
