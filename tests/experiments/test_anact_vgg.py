"""anact-vgg: its runs, and its analysis on a synthetic store (values by hand, verdicts against scipy)."""

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import stats as sps

from normact.experiments import (
    Scale,
    build_report,
    get_preset,
    list_presets,
    register_preset,
    render_markdown,
    stats,
    write_report,
)
from normact.experiments import reproduce as run_reproduce
from normact.functional import fused_kernels
from normact.train import ResultsStore, config_hash, config_to_dict

from .conftest import write_tiny_mnist

VARIANTS = ["relu", "nrelu", "swish", "nswish", "selu_nobn", "relu_gpn_nobn", "nrelu_nobn", "lrelu_gpn_nobn",
            "nlrelu_nobn"]  # fmt: skip
EXTRA = ["tanh", "leaky_relu", "elu", "nswish_nobn"]  # the full scale's paper rows beyond the cpu scale's
CLAIM_SCORE = (
    "The Score (eq. 22) is inversely related to the speed of convergence (section 3.1, here on VGG19)"
)


def test_anact_vgg_runs_follow_the_papers_recipe():
    preset = get_preset("anact-vgg")
    assert list(preset.variants) == VARIANTS + EXTRA and set(preset.scales) == {"cpu", "full"}
    cpu, full = preset.sweep("cpu"), preset.sweep("full")
    assert (
        list(preset.variants_of("cpu")) == VARIANTS and list(preset.variants_of("full")) == VARIANTS + EXTRA
    )
    assert len(cpu.configs()) == 9 * 4 and len(full.configs()) == 13 * 4
    by = {c.variant: c for c in cpu.configs() if c.train.seed == 0}
    relu, nrelu, gpn = by["relu"], by["nrelu"], by["relu_gpn_nobn"]
    # Table 8: AdamW lr 1e-3, batch 128, warm-up over the first epoch, dropout 0.5, clipping 3.0
    assert (relu.optim.name, relu.optim.lr, relu.optim.clip_grad_norm) == ("adamw", 1e-3, 3.0)
    assert (relu.data.batch_size, relu.schedule.warmup_epochs) == (128, 1.0)
    assert relu.model.kwargs["dropout"] == 0.5
    assert (relu.model.init, nrelu.model.init, gpn.model.init) == ("he", "xavier", "orthogonal")
    assert relu.model.kwargs.get("block_order", "convention") == "convention"
    # Table 3's baselines: no BN, SGD lr 0.01, times 0.2 at 30 % of training
    assert gpn.model.kwargs["block_order"] == "none" and (gpn.optim.name, gpn.optim.lr) == ("sgd", 0.01)
    assert (gpn.schedule.name, gpn.schedule.gamma, gpn.schedule.step_size) == ("step", 0.2, 2)
    acts = {c.model.act for c in cpu.configs()}
    assert acts == {"relu", "nrelu", "swish", "nswish", "selu", "relu_gpn", "lrelu_gpn", "nlrelu"}
    f = {c.variant: c for c in full.configs() if c.train.seed == 0}
    assert (f["relu"].data.name, f["relu"].train.epochs, f["relu_gpn_nobn"].schedule.step_size) == (
        "cifar100",
        200,
        60,
    )
    assert "width" not in f["relu"].model.kwargs and by["relu"].model.kwargs["width"] == 0.125
    # Table 2's other bases (with BN) and Table 3's NSwish without BN, initialised as the paper pairs them
    assert [(f[v].model.act, f[v].model.init) for v in EXTRA] == [
        ("tanh", "xavier"),
        ("leaky_relu", "he"),
        ("elu", "he"),
        ("nswish", "xavier"),
    ]
    assert [f[v].model.kwargs.get("block_order", "convention") for v in EXTRA] == ["convention"] * 3 + [
        "none"
    ]
    assert {f[v].optim.name for v in EXTRA} == {"adamw"}
    assert len(preset.claims) == 6


@pytest.fixture(scope="module")
def vgg_synth() -> str:
    """anact-vgg's analysis on four of its activations, 4 seeds, 3 epochs."""
    name = "test-vgg-synth"
    if name not in list_presets():
        base = get_preset("anact-vgg")
        scale = Scale("s", seeds=4, minutes=1, config={"train.epochs": 3})
        variants = {v: base.variants[v] for v in ("relu", "nrelu", "relu_gpn_nobn", "nrelu_nobn")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"s": scale}))
    return name


# variant -> per seed: accuracy per epoch, constant Score. relu_gpn_nobn seed 3 diverges at epoch 2.
RUNS = {
    "relu": [([0.5, 0.6, 0.70], 9.0), ([0.55, 0.65, 0.72], 8.0), ([0.5, 0.62, 0.69], 10.0),
             ([0.5, 0.6, 0.71], 7.0)],
    "nrelu": [([0.6, 0.7, 0.8], 2.0), ([0.6, 0.75, 0.74], 3.0), ([0.65, 0.7, 0.78], 2.5),
              ([0.6, 0.72, 0.75], 4.0)],
    "relu_gpn_nobn": [([0.3, 0.5, 0.6], 5.0), ([0.3, 0.55, 0.62], 6.0), ([0.2, 0.4, 0.5], 6.5), ([0.4], 5.5)],
    "nrelu_nobn": [([0.2, 0.5, 0.58], 4.5), ([0.3, 0.5, 0.61], 4.0), ([0.3, 0.5, 0.59], 5.0),
                   ([0.3, 0.3, 0.3], 3.5)],
}  # fmt: skip


@pytest.fixture
def vgg_store(tmp_path, vgg_synth):
    db = ResultsStore(tmp_path / "r.sqlite")
    for cfg in get_preset(vgg_synth).sweep("s").configs():
        acc, score = RUNS[cfg.variant][cfg.train.seed]
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        for epoch, a in enumerate(acc, 1):
            db.log_epoch(
                run_id, epoch, {"test_acc": a, "test_acc5": min(1.0, a + 0.2), "score": score, "time": 2.0}
            )
        if len(acc) == 3:
            db.finish_run(run_id, "finished")
        else:
            db.finish_run(run_id, "diverged", diverged_epoch=2)
    return db.path


def _best(variant):
    return [max(a) for a, _ in RUNS[variant]]


def test_table_by_hand(vgg_store, vgg_synth):
    text = render_markdown(build_report(vgg_synth, "s", vgg_store))
    best = np.array(_best("nrelu"))
    half = sps.t.ppf(0.975, 3) * best.std(ddof=1) / 2
    median = f"{100 * np.median(best):.2f} [{100 * best.min():.2f}, {100 * best.max():.2f}]"
    mean = f"{100 * best.mean():.2f} [{100 * (best.mean() - half):.2f}, {100 * (best.mean() + half):.2f}]"
    auc = np.median([np.mean(a) for a, _ in RUNS["nrelu"]])
    # top-5: the median of the runs' best, 1.0, 0.95, 0.98, 0.95
    row = f"| NReLU | yes | xavier | adamw 0.001 | {median} | {mean} | 76.50 | 96.50 | {100 * auc:.2f} |"
    assert row + " 2.750 | 4 |" in text
    # the diverged run's later epochs count as 0 in the mean over epochs; its best is the best before
    gpn_auc = np.median([0.4 / 3, *(np.mean(a) for a, _ in RUNS["relu_gpn_nobn"][:3])])
    assert f"| 55.00 | 75.00 | {100 * gpn_auc:.2f} | 5.750 | 4 (1 diverged) |" in text
    assert "| ReLU-GPN | no | orthogonal | sgd 0.01, x0.2 every 30 epochs | 55.00 [40.00, 62.00] |" in text
    assert "Diverged runs (seed, epoch): ReLU-GPN 3 (epoch 2)." in text
    assert "| NSwish | 65.72 | 87.40 |" in text  # Table 2 as printed
    assert "| NLReLU | 66.33 | 66.22 | 66.06 | 66.22 | 88.09 | 88.42 | 87.89 |" in text  # Table 3


def test_verdicts(vgg_store, vgg_synth):
    verdicts = {v.claim: v for v in build_report(vgg_synth, "s", vgg_store).verdicts}
    assert len(verdicts) == 3  # the Swish, LReLU-GPN and SELU claims need variants this preset lacks
    bn = verdicts["With BN, NReLU reaches a higher top-1 accuracy than ReLU (Table 2)"]
    p = sps.mannwhitneyu(_best("nrelu"), _best("relu"), alternative="greater", method="exact").pvalue
    assert p == pytest.approx(1 / 70) and bn.status == "supports" and bn.p_for == pytest.approx(p)
    assert bn.paper == "Table 2: 66.11 against 65.65 (median of 3)" and "Xavier" in bn.confounded
    nobn = verdicts["Without BN, NReLU reaches a higher top-1 accuracy than ReLU-GPN (Table 3)"]
    # best: NReLU 0.58, 0.61, 0.59, 0.3 against ReLU-GPN 0.6, 0.62, 0.5 and its diverged run, the worst
    p_for = stats.rank_sum_test([0.58, 0.61, 0.59, 0.3], [0.6, 0.62, 0.5, -np.inf], "greater")
    assert nobn.status == "inconclusive" and nobn.p_for == pytest.approx(p_for)
    assert "optimiser and initialisation differ" in nobn.confounded
    score = verdicts[CLAIM_SCORE]
    # one point per activation: the median of its runs' mean Score and of their mean accuracy (the
    # diverged run: the worst accuracy, and no Score to rank)
    x = [np.median([s for _, s in RUNS[v]]) for v in RUNS]
    x[2] = np.median([5.0, 6.0, 6.5])
    y = [np.median([np.mean(a) if len(a) == 3 else -np.inf for a, _ in RUNS[v]]) for v in RUNS]
    rho = sps.spearmanr(x, y).statistic
    perms = [sps.spearmanr(x, [y[i] for i in p]).statistic for p in itertools.permutations(range(4))]
    assert f"rho = {rho:.3f} over 4 arms" in score.evidence
    assert score.p_for == pytest.approx(np.mean(np.array(perms) <= rho + 1e-12))


def test_figures_are_written(vgg_store, vgg_synth, tmp_path):
    path = write_report(build_report(vgg_synth, "s", vgg_store), tmp_path / "out")
    for name in ("figure5", "score", "score_vs_speed"):
        assert (tmp_path / "out" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"]({name}.png)" in path.read_text()


def test_tiny_real_run(tmp_path):
    """Two variants (with and without BN) of VGG19 at 1/32 width, one epoch on a tiny MNIST-format set."""
    name = "test-vgg-tiny"
    if name not in list_presets():
        base = get_preset("anact-vgg")
        config = {"data.name": "mnist", "model.kwargs.width": 1 / 32, "train.epochs": 1,
                  "train.probe_samples": 50, "schedule.step_size": 1}  # fmt: skip
        scale = Scale("tiny", seeds=1, minutes=0.1, config=config)
        variants = {v: base.variants[v] for v in ("nrelu", "relu_gpn_nobn")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"tiny": scale}))
    write_tiny_mnist(tmp_path / "data" / "mnist", n_train=64, n_test=50)
    with fused_kernels(False):
        result = run_reproduce(name, "tiny", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    statuses = [(i.variant, i.status) for i in result.items]
    assert statuses == [("nrelu", "finished"), ("relu_gpn_nobn", "finished")]
    text = result.path.read_text()
    assert "| NReLU | yes | xavier |" in text and "| ReLU-GPN | no | orthogonal |" in text
    # no pair of a claim; two arms are too few for the correlation over arms
    assert [(v.claim, v.status) for v in result.report.verdicts] == [(CLAIM_SCORE, "inconclusive")]


def test_a_scale_with_its_own_variants_is_analysed_with_them(tmp_path):
    """The tables read a scale's own variants (``variants_of``), not the preset's, whose names differ."""
    name = "test-vgg-own-variants"
    if name not in list_presets():
        base = get_preset("anact-vgg")
        own = {"n_relu": base.variants["nrelu"], "b_relu": base.variants["relu"]}
        scale = Scale("s", seeds=4, minutes=1, config={"train.epochs": 3}, variants=own)
        register_preset(dataclasses.replace(base, name=name, scales={"s": scale}))
    db = ResultsStore(tmp_path / "r.sqlite")
    for cfg in get_preset(name).sweep("s").configs():
        acc, score = RUNS[cfg.variant[2:] if cfg.variant == "b_relu" else "nrelu"][cfg.train.seed]
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        for epoch, a in enumerate(acc, 1):
            db.log_epoch(
                run_id, epoch, {"test_acc": a, "test_acc5": min(1.0, a + 0.2), "score": score, "time": 2.0}
            )
        db.finish_run(run_id, "finished")
    text = render_markdown(build_report(name, "s", db.path))
    assert "| n_relu | yes | xavier | adamw 0.001 |" in text and "| b_relu | yes | he | adamw 0.001 |" in text
