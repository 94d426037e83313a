"""The bnorder-wd preset: its grids, and its analysis on a synthetic store."""

import dataclasses

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
    write_report,
)
from normact.experiments.presets import bnorder_wd

from .conftest import store_runs


def test_bnorder_wd_grids():
    preset = get_preset("bnorder-wd")
    assert preset is bnorder_wd.PRESET and len(preset.claims) == 3
    full = preset.sweep("full").configs()
    assert sorted({c.optim.weight_decay_groups["norm.bias"] for c in full}) == pytest.approx(
        [k * 1e-4 for k in range(11)]
    )
    cpu = preset.sweep("cpu").configs()
    assert len(cpu) == 33 and {c.train.seed for c in cpu} == {0, 1, 2}
    assert sorted({c.optim.weight_decay_groups["norm.bias"] for c in cpu})[-1] > 1e-3  # rescaled
    for cfg in full + cpu:
        assert cfg.optim.weight_decay_groups["norm.weight"] == 0.0
        assert cfg.optim.weight_decay == (5e-4 if cfg.data.name == "cifar100" else 5e-3)
        assert (cfg.model.act, cfg.model.kwargs["block_order"]) == ("tanh", "convention")
    assert full[0].data.name == "cifar100" and cpu[0].data.name == "fashion_mnist"


# decay on beta -> per seed: (last-epoch accuracy, channel |skewness| of each layer's base)
SWEEP = {0.0: [(0.84, 1.2), (0.85, 1.1)], 0.1: [(0.83, 0.9), (0.82, 1.0)], 0.2: [(0.80, 0.5), (None, None)]}
LAYERS = ["features.conv1_1", "features.conv2_1", "classifier.fc1"]


@pytest.fixture(scope="module")
def wd_synth_preset():
    name = "test-bnorder-wd-synth"
    if name not in list_presets():
        base = get_preset("bnorder-wd")
        variants = {
            f"b{d:g}": {"optim.weight_decay_groups": {"norm.weight": 0.0, "norm.bias": d}} for d in SWEEP
        }
        scale = Scale("s", seeds=2, minutes=1, config={"train.epochs": 1}, variants=variants)
        register_preset(dataclasses.replace(base, name=name, scales={"s": scale}))
    return name


@pytest.fixture
def wd_store(tmp_path, wd_synth_preset):
    def metrics_of(cfg):
        acc, skew = SWEEP[cfg.optim.weight_decay_groups["norm.bias"]][cfg.train.seed]
        if acc is None:
            return None
        metrics = {"test_acc": acc, "time": 1.0}
        for i, layer in enumerate(LAYERS):
            metrics[f"channel_skewness/{layer}.act"] = skew + 0.1 * i
            metrics[f"saturation/{layer}.act"] = 0.5
            metrics[f"sparsity/{layer}"] = 0.4
        return metrics

    return store_runs(tmp_path / "normact.sqlite", wd_synth_preset, "s", metrics_of)


def test_sweep_table_and_verdicts(wd_store, wd_synth_preset, tmp_path):
    rep = build_report(wd_synth_preset, "s", wd_store)
    text = render_markdown(rep)
    assert "| b0.1 | 82.50 [82.00, 83.00] | 1.050 [1.000, 1.100] | 0.500 [0.500, 0.500] |" in text
    assert "| b0.2 | 80.00 [80.00, 80.00] | 0.600 [0.600, 0.600] |" in text  # seed 1 diverged
    assert "Diverged runs (seed, epoch): b0.2 1 (epoch 1)." in text
    verdicts = {v.claim: v for v in rep.verdicts}
    skew_claim, corr_claim, acc_claim = (c.text for c in get_preset(wd_synth_preset).claims)
    decays = [0.0, 0.0, 0.1, 0.1, 0.2]
    skews = [1.3, 1.2, 1.0, 1.1, 0.6]  # layer means: base + 0.1; the diverged run has none
    rho = sps.spearmanr(decays, skews).statistic
    assert f"rho = {rho:.3f} over 5 runs" in verdicts[skew_claim].evidence
    # skewness against accuracy: one point per decay (the medians), 3! orders: p = 1/6 at best
    claim = verdicts[corr_claim]
    assert "rho = 1.000 over 3 arms" in claim.evidence and claim.p_for == pytest.approx(1 / 6)
    # accuracy: the diverged run ranks last (-inf), so 6 runs
    accs_all = [0.84, 0.85, 0.83, 0.82, 0.80, -np.inf]
    rho = sps.spearmanr([0.0, 0.0, 0.1, 0.1, 0.2, 0.2], accs_all).statistic
    assert f"rho = {rho:.3f} over 6 runs" in verdicts[acc_claim].evidence
    assert verdicts[acc_claim].status == "supports" and verdicts[acc_claim].diverged == "worst"
    path = write_report(rep, tmp_path / "out")
    for name in ("sweep", "skewness_vs_accuracy", "skewness_layers"):
        assert (tmp_path / "out" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "norm.bias" in path.read_text()  # the settings list this scale's own variants
