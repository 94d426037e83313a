"""selfnorm-depth: configs, the stability measures by hand, and the analysis on a synthetic store."""

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import stats as sps

from normact import theory
from normact.experiments import Scale, build_report, get_preset, list_presets, register_preset, write_report
from normact.experiments.presets.selfnorm_depth import stability, step_signal
from normact.nn.selu import DSELU, LSELU, SSELU
from normact.train import ResultsStore, config_hash, config_to_dict
from normact.train.loop import build_model

NAME = "test-selfnorm-depth"
# per variant: scale of ln q (forward) and slope of ln g across depth (backward)
FORWARD = {"selu": 0.2, "dselu": 0.5, "sselu": 0.1, "lselu": 0.15}
BACKWARD = {"selu": 0.3, "dselu": 0.2, "sselu": 0.05, "lselu": 0.1}


@pytest.fixture(scope="module")
def preset():
    if NAME not in list_presets():
        base = get_preset("selfnorm-depth")
        scale = Scale("s", seeds=4, minutes=1, config={"model.kwargs.depth": 8, "train.epochs": 1},
                      analysis={"input_shape": [1, 28, 28], "num_classes": 10})  # fmt: skip
        register_preset(dataclasses.replace(base, name=NAME, scales={"s": scale}))
    return get_preset(NAME)


def test_every_variant_builds_with_the_solvers_parameters():
    preset = get_preset("selfnorm-depth")
    kinds = {"dselu": DSELU, "sselu": SSELU, "lselu": LSELU}
    for cfg in preset.sweep("cpu", 1).configs():
        model = build_model(cfg.model, 10, (1, 28, 28))
        assert sum(1 for m in model.modules() if m.__class__.__name__ == "Conv2d") == 55
        if cfg.variant in kinds:
            act = model.stage2.conv3.act
            sol = theory.solve(cfg.variant, 0.017)
            assert isinstance(act, kinds[cfg.variant])
            assert (act.lam, act.alpha) == pytest.approx((sol.lam, sol.alpha), rel=1e-12)
    full = preset.sweep("full", 1).configs()
    assert {c.data.name for c in full} == {"cifar10"} and full[0].train.probes[0]["every"] == 1


def test_stability_measures_by_hand():
    q = np.array([[1.0, 2.0, 0.5], [4.0, 1.0, 1.0]])  # (steps, layers)
    g = np.array([[1.0, np.e, np.e**2], [np.e, np.e, np.e]])
    m = stability(q, g)
    ln2 = np.log(2)
    assert m["fwd_dev"] == pytest.approx((0 + ln2 + ln2 + 2 * ln2 + 0 + 0) / 6)
    assert m["fwd_spread"] == pytest.approx((np.std([0, ln2, -ln2]) + np.std([2 * ln2, 0, 0])) / 2)
    assert m["fwd_drift"] == pytest.approx((2 * ln2 + ln2 + ln2) / 3)
    assert m["bwd_spread"] == pytest.approx((np.std([0, 1, 2]) + 0) / 2)
    assert m["bwd_drift"] == pytest.approx((0.5 + 0 + 0.5) / 3)


def test_step_signal_reads_keys_in_layer_and_step_order():
    metrics = {
        "step_x/b@6": np.array([np.nan, 3.0]),
        "step_x/a@6": np.array([np.nan, 4.0]),
        "step_x/a@1": np.array([1.0, np.nan]),
        "step_x/b@1": np.array([2.0, np.nan]),
        "other/a@1": np.array([9.0, np.nan]),
    }
    steps, values = step_signal(metrics, "step_x/", ["a", "b"])
    assert steps.tolist() == [1, 6] and values.tolist() == [[1.0, 2.0], [4.0, 3.0]]


def _values(variant, seed, n_layers, steps):
    rng = np.random.default_rng(100 * seed + len(variant))
    z = rng.standard_normal((len(steps), n_layers))
    q = np.exp(FORWARD[variant] * z)
    g = np.exp(BACKWARD[variant] * np.arange(n_layers)[None, :] + 0.01 * z)
    return q, g


@pytest.fixture
def store(tmp_path, preset):
    from normact.experiments.presets.selfnorm_depth import conv_layers
    from normact.experiments.results import collect_runs

    path = tmp_path / "r.sqlite"
    db = ResultsStore(path)
    steps = [1, 6, 11]
    layers = None
    for cfg in preset.sweep("s").configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        if cfg.variant == "selu" and cfg.train.seed == 3:
            db.finish_run(run_id, "failed", error="boom")
            continue
        if cfg.variant == "dselu" and cfg.train.seed == 3:  # diverged in its only epoch: no signal stored
            db.finish_run(run_id, "diverged", diverged_epoch=1)
            continue
        if layers is None:
            layers = conv_layers(collect_runs(preset, "s", db), "selu")
        q, g = _values(cfg.variant, cfg.train.seed, len(layers), steps)
        metrics = {"test_acc": 0.5, "time": 2.0}
        for i, s in enumerate(steps):
            for j, layer in enumerate(layers):
                metrics[f"step_second_moment/{layer}@{s}"] = q[i, j]
                metrics[f"step_grad_norm/{layer}@{s}"] = g[i, j]
        for j, layer in enumerate(layers):
            metrics[f"second_moment_theory/{layer}"] = q[0, j] * 1.01
        db.log_epoch(run_id, 1, metrics)
        db.finish_run(run_id, "finished")
    return path, layers


def test_analysis_on_a_synthetic_store(store, tmp_path):
    path, layers = store
    assert len(layers) == 7
    rep = build_report(NAME, "s", path)
    verdicts = {v.claim: v for v in rep.verdicts}
    assert len(verdicts) == 7
    fwd = verdicts["sSELU normalizes the second moment in the forward pass better than dSELU"]
    assert fwd.status == "supports" and fwd.p_for == pytest.approx(1 / 70)  # 1 / C(8, 4)
    assert fwd.evidence.count("∞") == 1  # dSELU's diverged run counts as the least stable
    back = verdicts["lSELU has a flatter distribution of the gradient norm across depth than SELU"]
    assert back.status == "supports" and back.p_for == pytest.approx(1 / 35)  # 4 against 3 runs: 1 / C(7, 3)
    # the gamma claim, recomputed from the generating values with scipy
    gammas = {
        "selu": theory.gamma("selu"),
        **{v: theory.solve(v, 0.017).gamma for v in ("dselu", "sselu", "lselu")},
    }
    x, y = [], []  # one point per activation: its gamma and its runs' median forward deviation
    for v in ("selu", "dselu", "sselu", "lselu"):
        dev = []
        for seed in range(3 if v == "selu" else 4):
            q, _g = _values(v, seed, 7, [1, 6, 11])
            dev.append(np.inf if (v, seed) == ("dselu", 3) else np.mean(np.abs(np.log(q))))
        x.append(gammas[v])
        y.append(np.median(dev))
    rho = sps.spearmanr(x, y).statistic
    perms = [sps.spearmanr(x, [y[i] for i in p]).statistic for p in itertools.permutations(range(4))]
    gamma = verdicts["A lower gamma_{q=1} gives stronger self-normalization of the second moment"]
    assert f"rho = {rho:.3f} over 4 arms" in gamma.evidence
    assert gamma.p_for == pytest.approx(np.mean(np.array(perms) >= rho - 1e-12))
    out = write_report(rep, tmp_path / "out")
    text = out.read_text()
    assert "**1 run is missing**" in text and "SELU: seed 3 (failed)" in text
    assert "Diverged runs (seed, epoch): dSELU 3 (epoch" in text
    assert "A diverged run counts as ∞, the least stable" in text
    assert "| dSELU | 0.0170 | 1.3369 | 0.6409 | – | 0.9539 | 0.017 | 1.34 | 0.64 | – | 0.954 |" in text
    assert "| SELU | 0.010 | 0.010 |" in text  # ln(1.01) between the synthetic theory and measurement
    for name in ("figure4", "second_moment_depth", "stability_over_iterations"):
        assert (tmp_path / "out" / f"{name}.png").stat().st_size > 10_000


def test_iid_control_is_the_seeds_initial_network_on_random_signs(preset, tmp_path):
    import torch
    from torch import nn

    from normact import probes
    from normact.experiments.presets.selfnorm_depth import conv_layers, iid_control
    from normact.experiments.results import collect_runs

    runs = collect_runs(preset, "s", ResultsStore(tmp_path / "empty.sqlite"))
    layers = conv_layers(runs, "sselu")
    predicted, measured = iid_control(runs, "sselu", 3, layers)
    cfg = preset.sweep("s", 4).configs()[2 * 4 + 3]  # variant order selu, dselu, sselu: sselu seed 3
    assert (cfg.variant, cfg.train.seed) == ("sselu", 3)
    torch.manual_seed(3)  # as the runner seeds before building the model
    model = build_model(cfg.model, 10, (1, 28, 28))
    x = torch.randint(0, 2, (64, 1, 28, 28), generator=torch.Generator().manual_seed(3)).float() * 2 - 1
    records = probes.compare_second_moments(
        nn.Sequential(model.stem, model.stage1, model.stage2, model.stage3), x
    )
    assert predicted == pytest.approx([r["predicted"] for r in records], rel=1e-9)
    assert measured == pytest.approx([r["measured"] for r in records], rel=1e-5)
