"""selfnorm-accuracy: each network gets its data at each scale; the analysis on a synthetic store."""

import dataclasses

import numpy as np
import pytest
from scipy import stats as sps

from normact.experiments import Scale, build_report, get_preset, list_presets, register_preset, write_report
from normact.experiments.presets.selfnorm_accuracy import split_variant
from normact.train import ResultsStore, config_hash, config_to_dict
from normact.train.loop import build_model

# variant -> per-seed final accuracy; fc_selu seed 2 diverges in its first epoch
FINAL = {
    "cnn_selu": [0.70, 0.72, 0.71, 0.69],
    "cnn_dselu": [0.74, 0.73, 0.75, 0.76],
    "cnn_sselu": [0.80, 0.79, 0.81, 0.78],
    "cnn_lselu": [0.725, 0.745, 0.735, 0.755],
    "fc_selu": [0.60, 0.61, None, 0.62],
    "fc_sselu": [0.64, 0.65, 0.66, 0.63],
    "fc_lselu": [0.615, 0.605, 0.635, 0.625],
    "fc_selu_wcm": [0.65, 0.66, 0.67, 0.68],
    "fc_sselu_wcm": [0.64, 0.66, 0.65, 0.63],
    "fc_lselu_wcm": [0.58, 0.57, 0.59, 0.56],
    # the full scale's other Table 1 rows
    "cnn_bnrelu": [0.75, 0.74, 0.76, 0.73],
    "cnn_lselu_eps0.01": [0.60, 0.62, 0.61, 0.63],
    "cnn_lselu_eps0.03": [0.77, 0.78, 0.76, 0.79],
    **{
        f"cnn_{a}_eps{e}": [0.7, 0.71, 0.72, 0.73]
        for a in ("dselu", "sselu", "lselu")
        for e in (0.01, 0.05, 0.07)
    },
    **{f"cnn_{a}_eps0.03": [0.7, 0.71, 0.72, 0.73] for a in ("dselu", "sselu")},
}


def test_each_network_gets_its_data_and_settings():
    preset = get_preset("selfnorm-accuracy")
    for scale, cnn_data, fc_data in (("cpu", "fashion_mnist", "mnist1d"), ("full", "cifar10", "miniboone")):
        for cfg in preset.sweep(scale, 1).configs():
            net, act, tricks = split_variant(cfg.variant)
            assert cfg.data.name == (cnn_data if net == "cnn" else fc_data)
            assert cfg.model.name == ("serial_cnn" if net == "cnn" else "mlp")
            assert cfg.model.act == ("relu" if act == "bnrelu" else act) and cfg.optim.clip_grad_value == 2.0
            assert cfg.data.mixup_alpha == (0.7 if tricks else 0.0)
            assert cfg.model.kwargs.get("centralize", False) is tricks
            eps = float(cfg.variant.partition("_eps")[2] or 0.017)
            assert act in ("selu", "bnrelu") or cfg.model.kwargs["act_kwargs"] == {"eps": eps}
            assert cfg.model.kwargs.get("block_order", "none") == (
                "convention" if act == "bnrelu" else "none"
            )
    full = [c.variant for c in preset.sweep("full", 1).configs()]
    assert len(full) == 23 and "cnn_bnrelu" in full  # Table 1: BN + ReLU, SELU, 3 families x 5 eps
    assert {v for v in full if "_eps" in v} == {
        f"cnn_{a}_eps{e}" for a in ("dselu", "sselu", "lselu") for e in (0.01, 0.03, 0.05, 0.07)
    }
    assert [c.variant for c in preset.sweep("cpu", 1).configs()] == list(preset.variants)
    cpu = {c.variant: c for c in preset.sweep("cpu", 1).configs()}
    model = build_model(cpu["fc_sselu_wcm"].model, 10, (40,))
    assert len(model.blocks) == 64 and model.blocks.fc1.layer.weight.shape == (128, 40)
    assert hasattr(model.blocks.fc1.layer, "parametrizations")  # weight centralization


@pytest.fixture(params=["cpu", "full"])
def store(tmp_path, request):
    """A synthetic store of the cpu or the full scale's variants."""
    name = f"test-selfnorm-accuracy-{request.param}"
    if name not in list_presets():
        base = get_preset("selfnorm-accuracy")
        scale = Scale("s", seeds=4, minutes=1, config={"train.epochs": 2},
                      analysis={"datasets": {"cnn": "A", "fc": "B"}},
                      variants=base.scale(request.param).variants)  # fmt: skip
        register_preset(dataclasses.replace(base, name=name, scales={"s": scale}))
    path = tmp_path / "r.sqlite"
    db = ResultsStore(path)
    for cfg in get_preset(name).sweep("s").configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        acc = FINAL[cfg.variant][cfg.train.seed]
        if acc is None:
            db.finish_run(run_id, "diverged", diverged_epoch=1)
            continue
        db.log_epoch(run_id, 1, {"test_acc": acc - 0.1})
        db.log_epoch(run_id, 2, {"test_acc": acc})
        db.finish_run(run_id, "finished")
    return name, path


def test_analysis_on_a_synthetic_store(store, tmp_path):
    name, path = store
    rep = build_report(name, "s", path)
    verdicts = {v.claim: v for v in rep.verdicts}
    full = name.endswith("full")
    claims = [c.text for c in get_preset("selfnorm-accuracy").claims]
    assert list(verdicts) == (claims if full else claims[:-2])  # the last two need the full scale's rows
    fc_selu = [0.60, 0.61, -np.inf, 0.62]  # the diverged run counts as the worst accuracy
    for claim, a, b in (
        ("sSELU reaches a higher test accuracy than SELU on the 56-layer CNN", "cnn_sselu", "cnn_selu"),
        ("lSELU reaches a higher test accuracy than dSELU on the 56-layer CNN", "cnn_lselu", "cnn_dselu"),
        ("lSELU reaches a higher test accuracy than SELU on the 64-layer FC network", "fc_lselu", "fc_selu"),
        ("Weight centralization and mixup raise lSELU's test accuracy on the 64-layer FC network",
         "fc_lselu_wcm", "fc_lselu"),
    ):  # fmt: skip
        x = fc_selu if a == "fc_selu" else FINAL[a]
        y = fc_selu if b == "fc_selu" else FINAL[b]
        p = sps.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue
        q = sps.mannwhitneyu(x, y, alternative="less", method="exact").pvalue
        expected = "supports" if p < 0.05 else ("contradicts" if q < 0.05 else "inconclusive")
        assert verdicts[claim].status == expected, claim
        assert verdicts[claim].p_for == pytest.approx(p)
    assert verdicts["Weight centralization and mixup raise lSELU's test accuracy on the 64-layer FC network"
                    ].status == "contradicts"  # fmt: skip
    text = (write_report(rep, tmp_path / "out")).read_text()
    half = sps.t.ppf(0.975, 3) * np.std(FINAL["cnn_sselu"], ddof=1) / 2
    assert f"| CNN sSELU | 0.017 | A | 79.50 ± {100 * half:.2f} | [80.00, 79.00, 81.00, 78.00] | 4 |" in text
    assert "Diverged runs (seed, epoch): FC SELU 2 (epoch 1)." in text
    assert "| sSELU | 0.017 | 87.29 ± 0.20 | 56.30 ± 0.79 | 46.67 ± 0.98 |" in text  # the paper, as printed
    assert (tmp_path / "out" / "accuracy_curves.png").is_file()
    # the paper's rows appear exactly where this scale runs them
    assert ("| BN + ReLU | – | 85.64 ± 1.15 |" in text) is full
    assert ("| lSELU | 0.03 | 86.69 ± 0.84 | 56.78 ± 0.44 | 47.80 ± 0.58 |" in text) is full
    if full:
        assert "| CNN lSELU (eps 0.03) | 0.03 | A | 77.50 ± " in text
        for claim in (
            "sSELU reaches a higher test accuracy than BN + ReLU on the 56-layer CNN",
            "lSELU reaches a higher test accuracy at eps = 0.03 than at eps = 0.01 on the 56-layer CNN",
        ):
            assert verdicts[claim].status == "supports"
