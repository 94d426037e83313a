"""The bnorder-affine-wd preset: its grids, its verdicts on a synthetic store, the smoke scale end to end."""

import dataclasses

import pytest
from scipy import stats as sps

from normact.experiments import (
    Scale,
    build_report,
    get_preset,
    list_presets,
    register_preset,
    render_markdown,
)
from normact.experiments import reproduce as run_reproduce
from normact.experiments.presets import bnorder_affine_wd
from normact.models import create_model
from normact.train.optim import param_groups

from .conftest import store_runs, write_tiny_mnist

GRID = [0.0, 1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4]


def _decays(configs):
    return sorted({c.optim.weight_decay_groups["norm"] for c in configs})


def test_grids_and_recipe():
    preset = get_preset("bnorder-affine-wd")
    assert preset is bnorder_affine_wd.PRESET and len(preset.claims) == 3
    assert set(preset.scales) == {"smoke", "cpu", "full"}
    full, cpu = preset.sweep("full").configs(), preset.sweep("cpu").configs()
    assert _decays(full) == pytest.approx(GRID) and len(full) == 21
    assert _decays(cpu) == pytest.approx([400 * d for d in GRID]) and len(cpu) == 35  # rescaled (notes)
    assert _decays(preset.sweep("smoke").configs()) == pytest.approx([0.0, 1e-5, 5e-4])
    for cfg in full + cpu:
        assert (cfg.model.act, cfg.model.kwargs["block_order"]) == ("tanh", "swap")
        assert cfg.optim.weight_decay == (5e-4 if cfg.data.name == "cifar100" else 5e-3)
    assert full[0].data.name == "cifar100" and full[0].train.epochs == 200
    assert cpu[0].data.name == "fashion_mnist" and "stand-in" in preset.scale("cpu").notes
    assert not preset.scale("smoke").verdicts


def test_the_decay_reaches_gamma_and_beta_only():
    cfg = next(
        c for c in get_preset("bnorder-affine-wd").sweep("cpu", 1).configs() if c.variant.endswith("0.02")
    )
    model = create_model(cfg.model.name, num_classes=10, input_shape=(1, 28, 28), act=cfg.model.act,
                         init=cfg.model.init, **cfg.model.kwargs)  # fmt: skip
    groups = param_groups(model, cfg.optim.weight_decay, cfg.optim.weight_decay_groups)
    decay = {n: g["weight_decay"] for g in groups for n in g["names"]}
    norms = {n for n, m in model.named_modules() if "BatchNorm" in type(m).__name__}
    assert {n.rpartition(".")[2] for n in decay if n.rpartition(".")[0] in norms} == {"weight", "bias"}
    for name, d in decay.items():
        assert d == (0.02 if name.rpartition(".")[0] in norms else 5e-3), name


# decay -> per seed: (last-epoch accuracy, sparsity of each block's base), None: diverged
SWEEP = {
    0.0: [(0.80, 0.50), (0.81, 0.55)],
    0.01: [(0.83, 0.60), (0.82, 0.58)],
    0.1: [(0.85, 0.70), (None, None)],
}
BLOCKS = ["features.conv1_1", "features.conv2_1", "classifier.fc1"]


@pytest.fixture
def affine_store(tmp_path):
    name = "test-bnorder-affine-wd-synth"
    if name not in list_presets():
        variants = {f"w{d:g}": {"optim.weight_decay_groups": {"norm": d}} for d in SWEEP}
        scale = Scale("s", seeds=2, minutes=1, config={"train.epochs": 1}, variants=variants)
        register_preset(dataclasses.replace(get_preset("bnorder-affine-wd"), name=name, scales={"s": scale}))

    def metrics_of(cfg):
        acc, sparsity = SWEEP[cfg.optim.weight_decay_groups["norm"]][cfg.train.seed]
        if acc is None:
            return None
        metrics = {"test_acc": acc, "time": 1.0}
        for i, block in enumerate(BLOCKS):
            metrics[f"sparsity/{block}"] = sparsity + 0.1 * i
            metrics[f"channel_skewness/{block}.act"] = 1.0
            metrics[f"saturation/{block}.act"] = 0.5
        return metrics

    return name, store_runs(tmp_path / "normact.sqlite", name, "s", metrics_of)


def test_verdicts_and_table_on_a_synthetic_store(affine_store, tmp_path):
    name, path = affine_store
    rep = build_report(name, "s", path)
    verdicts = {v.claim: v for v in rep.verdicts}
    sparsity_claim, corr_claim, acc_claim = (c.text for c in get_preset(name).claims)
    rho = sps.spearmanr([0, 0, 0.01, 0.01, 0.1], [0.6, 0.65, 0.7, 0.68, 0.8]).statistic  # block means
    assert f"rho = {rho:.3f} over 5 runs" in verdicts[sparsity_claim].evidence
    # the decays' medians; the diverged run counts as the worst accuracy, so 0.1's median is -inf
    rho = sps.spearmanr([0.625, 0.69, 0.8], [0.805, 0.825, -1]).statistic
    assert f"rho = {rho:.3f} over 3 arms" in verdicts[corr_claim].evidence and rho == pytest.approx(-0.5)
    rho = sps.spearmanr([0, 0, 0.01, 0.01, 0.1, 0.1], [0.80, 0.81, 0.83, 0.82, 0.85, -1]).statistic
    assert f"rho = {rho:.3f} over 6 runs" in verdicts[acc_claim].evidence  # the diverged run ranks last
    text = render_markdown(rep)
    assert "| 0.01 | 0.690 | 82.50 | 2/2 |" in text and "| 0.1 | 0.800 | 85.00 | 1/2 |" in text
    assert "![Figure 7: each run's mean block sparsity against its accuracy" in text


def test_smoke_scale_end_to_end(tmp_path):
    """The YAML's smoke scale: three decays, one seed, one epoch on a tiny Fashion-MNIST-format set."""
    write_tiny_mnist(tmp_path / "data" / "fashion-mnist", n_train=64, n_test=32)
    result = run_reproduce(
        "bnorder-affine-wd", "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data"
    )
    assert not result.failed and len(result.items) == 3
    text = result.path.read_text()
    assert "## Sparsity and accuracy per decay (Figure 7)" in text and "| 0.0005 |" in text
    for figure in ("sweep", "sparsity_vs_accuracy", "sparsity_layers"):
        assert (result.path.parent / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
