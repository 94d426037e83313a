"""The crelu-normprop preset: its configs and probes, its analysis on a synthetic store, a tiny real run."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from normact.experiments import Scale, get_preset, list_presets, register_preset, reproduce
from normact.experiments import report as build_report
from normact.experiments.presets import crelu_normprop as cn
from normact.experiments.report import render_markdown
from normact.experiments.results import collect_runs
from normact.models.resnet_cifar import resnet_cifar
from normact.probes.callbacks import build_probe_callbacks
from normact.train import ResultsStore, config_hash, config_to_dict
from normact.train.loop import build_model

from .conftest import write_tiny_mnist

VARIANTS = [
    f"{n}_{a}" for a in ("relu", "crelu") for n in ("plain", "normprop", "normprop2", "normprop3", "bn")
]
TINY_PROBES = [
    {"name": "residual_delta", "where": r"layer\d\.\d+", "shortcut": "shortcut"},
    {"name": "nonzero_ratio", "where": r"layer3\.0\.act"},
    {"name": "second_moment", "where": r"layer3\.0\.act", "tap": "output"},
    {"name": "coherence", "where": r"^layer\d\.\d+\.conv\d\."},
]


def _small_preset(name: str, scale: Scale, variants=None) -> str:
    if name not in list_presets():
        base = get_preset("crelu-normprop")
        chosen = base.variants if variants is None else {v: base.variants[v] for v in variants}
        register_preset(dataclasses.replace(base, name=name, variants=chosen, scales={scale.name: scale}))
    return name


def _tiny_scale(name: str, seeds: int, epochs: int, extra=None) -> Scale:
    config = {
        "model.kwargs.depth": 8,
        "model.kwargs.width": 0.25,
        "train.epochs": epochs,
        "train.probes": TINY_PROBES,
        **(extra or {}),
    }
    return Scale(
        name,
        seeds=seeds,
        minutes=0.2,
        config=config,
        analysis={"input_shape": [1, 28, 28], "num_classes": 10, "trained_above": 0.2},
    )


def test_preset_registers_with_ten_variants_and_three_scales():
    preset = get_preset("crelu-normprop")
    assert list(preset.variants) == VARIANTS
    assert set(preset.scales) == {"cpu", "full", "full-cifar10"}
    assert len(preset.claims) == 15
    cpu = preset.sweep("cpu").configs()
    assert len(cpu) == 40 and preset.scale("cpu").seeds >= 3
    by_variant = {c.variant: c for c in cpu}
    assert by_variant["bn_relu"].model.init == "he" and by_variant["plain_crelu"].model.init == "xavier"
    full = {c.variant: c for c in preset.sweep("full").configs()}
    assert full["bn_crelu"].model.kwargs["depth"] == 110 and full["bn_crelu"].train.epochs == 164
    assert full["bn_crelu"].schedule.milestones == [81, 122] and full["bn_crelu"].optim.weight_decay == 1e-4
    assert full["bn_crelu"].data.name == "cifar100"
    assert {c.data.name for c in preset.sweep("full-cifar10").configs()} == {"cifar10"}


def test_the_full_scales_add_table2s_rows_and_select_each_models_rate():
    """Plain "no bias" and BN "double" at the full scales only; every model's lr picked on seeds 100-102."""
    preset = get_preset("crelu-normprop")
    extra = ["plain_nobias_relu", "bn_double_relu", "plain_nobias_crelu"]
    for scale in ("full", "full-cifar10"):
        assert list(preset.variants_of(scale)) == VARIANTS + extra
        select = preset.scale(scale).select
        assert select.grid == {"optim.lr": [0.1, 0.05, 0.025, 0.0125]} and select.seeds == (100, 101, 102)
        assert (select.metric, select.better) == ("accuracy", "higher")
        grid = preset.selection_sweep(scale)
        assert len(grid.configs()) == 13 * 4 * 3
        rates = {c.optim.lr for c in grid.configs() if c.variant.startswith("normprop_relu@")}
        assert rates == {0.1, 0.05, 0.025, 0.0125}  # NormProp ReLU gets the others' chance
    full = {c.variant: c for c in preset.sweep("full", picks={"plain_relu": {"optim.lr": 0.0125}}).configs()}
    assert full["plain_nobias_relu"].model.kwargs["bias"] is False and full["plain_relu"].model.kwargs.get(
        "bias", True
    )
    assert full["bn_double_relu"].model.kwargs["width"] == 2.0 and full["bn_double_relu"].model.init == "he"
    assert full["plain_relu"].optim.lr == 0.0125  # the pick replaces the cpu pilot's rate
    assert preset.label("plain_nobias_crelu") == "Plain (no bias) CReLU"
    model = build_model(full["plain_nobias_relu"].model, 100, (3, 32, 32))
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def test_the_cpu_scale_selects_normprop_relus_rate_only():
    """The pilot's rates stay for nine arms; NormProp ReLU runs the full scales' grid on seeds 100-102."""
    preset = get_preset("crelu-normprop")
    assert list(preset.variants_of("cpu")) == VARIANTS
    select = preset.scale("cpu").select
    assert select.grid == preset.scale("full").select.grid and select.seeds == (100, 101, 102)
    assert select.variants == ("normprop_relu",) and select.metric == "accuracy"
    grid = preset.selection_sweep("cpu").configs()
    assert {(c.variant, c.optim.lr) for c in grid} == {
        (f"normprop_relu@optim.lr={lr:g}", lr) for lr in (0.1, 0.05, 0.025, 0.0125)
    }
    assert len(grid) == 12 and {c.train.seed for c in grid} == {100, 101, 102}
    pilot = {c.variant: c for c in preset.sweep("cpu", 1).configs()}
    picked = {
        c.variant: c for c in preset.sweep("cpu", 1, picks={"normprop_relu": {"optim.lr": 0.025}}).configs()
    }
    assert picked["normprop_relu"].optim.lr == 0.025
    rates = {v: c.optim.lr for v, c in picked.items() if v != "normprop_relu"}
    assert rates == {"plain_relu": 0.05, "plain_crelu": 0.025, "normprop_crelu": 0.025} | {
        v: 0.1 for v in VARIANTS if v not in ("plain_relu", "plain_crelu", "normprop_crelu", "normprop_relu")
    }
    assert all(config_hash(picked[v]) == config_hash(pilot[v]) for v in rates)  # their runs stay valid


def test_every_cpu_probe_finds_its_layers_in_every_variant():
    preset = get_preset("crelu-normprop")
    x = torch.randn(4, 1, 28, 28)
    # every kind of convolution unit (plain, NormProp, BN) with each activation
    chosen = ("plain_relu", "normprop_crelu", "normprop3_relu", "bn_crelu")
    for cfg in (c for c in preset.sweep("cpu", 1).configs() if c.variant in chosen):
        model = build_model(cfg.model, 10, (1, 28, 28)).eval()
        out = {}
        for cb in build_probe_callbacks(cfg.train.probes):
            out.update(cb.on_epoch_end(model, 1, [(x, torch.zeros(4, dtype=torch.long))]))
        blocks = {k for k in out if k.startswith("residual_delta/")}
        assert len(blocks) == 6, cfg.variant  # ResNet-14: 2 blocks in each of 3 stages
        assert set(k for k in out if not k.startswith(("residual_delta/", "coherence/"))) == {
            "nonzero_ratio/layer3.1.act",
            "second_moment/layer3.1.act",
        }
        assert sum(k.startswith("coherence/") for k in out) == 12, cfg.variant  # two convolutions a block


def test_the_full_scales_last_relu_is_the_last_block_of_resnet110():
    names = dict(resnet_cifar(110, 100, (3, 32, 32), act="crelu", norm="normprop2").named_modules())
    assert "layer3.17.act" in names and "layer3.18.act" not in names


# -- the analysis on a synthetic store ---------------------------------------------------------------

# variant -> error of seed 0 (seed i adds i points); None: every run diverged in its first epoch
ERROR = {
    "plain_relu": 0.20, "normprop_relu": 0.25, "normprop2_relu": 0.18, "normprop3_relu": 0.17,
    "bn_relu": 0.10, "plain_crelu": 0.15, "normprop_crelu": None, "normprop2_crelu": 0.22,
    "normprop3_crelu": 0.14, "bn_crelu": 0.08,
}  # fmt: skip
BLOCKS = ["layer1.0", "layer2.0", "layer3.0"]


def _delta(variant: str, seed: int) -> list[float]:
    if variant.startswith("plain"):
        return [0.1 * (1 + seed), 1.0, 2.0]  # latter-half share (1 + 2) / (3 + 0.1 (1 + seed))
    return [1.0 + 0.01 * seed, 1.0, 1.0]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    name = _small_preset("test-crelu-synth", _tiny_scale("s", seeds=4, epochs=2))
    preset = get_preset(name)
    path = tmp_path_factory.mktemp("crelu") / "normact.sqlite"
    db = ResultsStore(path)
    init = {}
    for cfg in preset.sweep("s").configs():
        v, seed = cfg.variant, cfg.train.seed
        run_id = db.start_run(study=cfg.study, variant=v, seed=seed, config_hash=config_hash(cfg),
                              config=config_to_dict(cfg))  # fmt: skip
        if ERROR[v] is None:
            db.log_epoch(run_id, 1, {"test_acc": 0.1, "time": 1.0})
            db.finish_run(run_id, "diverged", diverged_epoch=1)
            continue
        torch.manual_seed(seed)
        model = build_model(cfg.model, 10, (1, 28, 28))
        (coh,) = build_probe_callbacks([TINY_PROBES[-1]])
        init[v, seed] = coh.on_epoch_end(model, 0, [])
        for epoch in (1, 2):
            err = ERROR[v] + 0.01 * seed + 0.05 * (2 - epoch)
            metrics = {"test_acc": 1 - err, "time": 1.0}
            metrics.update({f"residual_delta/{b}": d for b, d in zip(BLOCKS, _delta(v, seed))})
            metrics["nonzero_ratio/layer3.0.act"] = (0.5 if v == "bn_relu" else 0.14) + 0.01 * seed
            metrics["second_moment/layer3.0.act"] = (10.0 if v.startswith("plain") else 1.0) + 0.1 * seed
            metrics.update({k: c + 0.2 for k, c in init[v, seed].items()})  # trained: 0.2 above init
            db.log_epoch(run_id, epoch, metrics)
        db.finish_run(run_id, "finished")
    return name, path, init


def test_tables_by_hand(synth):
    name, path, _ = synth
    text = render_markdown(build_report(name, "s", path)[0])
    assert "| Plain ReLU | 21.50 | 20.00-23.00 | [20.0, 21.0, 22.0, 23.0] | 0/4 |" in text
    assert "| NormProp CReLU | ∞ | – | [div., div., div., div.] | 4/4 |" in text
    assert (
        "| BatchNorm CReLU | 1.150 | 1.072 | 0.155 | 1.94 ± 1.99 | 0.50 |" in text
    )  # 1 + 0.1 * median(0..3)
    share = np.median([3 / (3 + 0.1 * (1 + s)) for s in range(4)])
    assert f"| Plain ReLU | 0.250 | 1.000 | 2.000 | {share:.3f} |" in text
    assert "Diverged runs (seed, epoch): NormProp CReLU 0 (epoch" in text
    assert "| NormProp2 ReLU | 7.46 | 31.71 |" in text  # the paper's row, as printed


def test_table1_as_mean_and_std_where_the_runs_record_the_mean(tmp_path):
    """The full scales record the last ReLU's mean beside E[y^2]: Table 1 as mean ± std, as the paper."""
    for scale in ("full", "full-cifar10"):
        probes = get_preset("crelu-normprop").scale(scale).config["train.probes"]
        assert {"name": "mean", "where": r"layer3\.17\.act", "tap": "output"} in probes
    extra = {"train.probes": [*TINY_PROBES, {"name": "mean", "where": r"layer3\.0\.act", "tap": "output"}]}
    name = _small_preset("test-crelu-mean", _tiny_scale("m", seeds=3, epochs=1, extra=extra), ["plain_relu"])
    path = tmp_path / "normact.sqlite"
    db = ResultsStore(path)
    means, seconds = [30.0, 20.0, 40.0], [2000.0, 1000.0, 2500.0]
    for cfg, mean, second in zip(get_preset(name).sweep("m").configs(), means, seconds, strict=True):
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        last_relu = {"nonzero_ratio": 0.2, "second_moment": second, "mean": mean}
        db.log_epoch(
            run_id,
            1,
            {"test_acc": 0.5, "time": 1.0, **{f"{k}/layer3.0.act": x for k, x in last_relu.items()}},
        )
        db.finish_run(run_id, "finished")
    text = render_markdown(build_report(name, "m", path, out=tmp_path / "out")[0])
    stds = [np.sqrt(e - m**2) for m, e in zip(means, seconds, strict=True)]  # 33.17, 24.49, 30.0
    ours = f"{np.median(means):.2f} ± {np.median(stds):.2f}"
    row = f"| Plain ReLU | {ours} | 2000.000 | 0.200 | 30.81 ± 36.69 | 0.14 |"
    assert row in text and "| model | mean ± std (medians) | E[y^2] (median) |" in text


def test_coherence_at_init_is_the_runs_initial_weights(synth):
    name, path, init = synth
    runs = collect_runs(get_preset(name), "s", path)
    got = cn._init_coherence(runs, "normprop2_crelu")
    assert set(got) == {0, 1, 2, 3}
    assert got[2] == {k.removeprefix("coherence/"): v for k, v in init["normprop2_crelu", 2].items()}
    # independently: the same seed, the model built directly, one layer's coherence by a pairwise loop
    torch.manual_seed(2)
    model = resnet_cifar(
        8, 10, (1, 28, 28), act="crelu", init="xavier", norm="normprop2", width=0.25, shortcut="A"
    )
    rows = model.layer2[0].conv1.weight.detach().reshape(model.layer2[0].conv1.weight.shape[0], -1).double()
    by_pairs = max(
        abs(float(rows[i] @ rows[j])) / float(rows[i].norm() * rows[j].norm())
        for i, j in itertools.permutations(range(rows.shape[0]), 2)
    )
    assert got[2]["layer2.0.conv1.weight"] == pytest.approx(by_pairs, rel=1e-12)
    state = torch.random.get_rng_state()
    cn._init_coherence(runs, "bn_relu")
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is left alone


def test_verdicts_on_the_synthetic_runs(synth):
    name, path, _ = synth
    verdicts = {v.claim: v for v in build_report(name, "s", path)[0].verdicts}
    claims = [c.text for c in cn.PRESET.claims]
    assert list(verdicts) == claims
    (delta_relu, delta_crelu, magnitude, nzr, crelu_plain, crelu_np2, _, crelu_bn, np_drop, np2, gap_np2, _,
     np_crelu, _, coherence) = claims  # fmt: skip
    status = {claim: v.status for claim, v in verdicts.items()}
    # complete separation of 4 against 4 runs: p = 1 / C(8, 4) = 0.0143
    assert status[delta_relu] == "supports" and verdicts[delta_crelu].p_for == pytest.approx(1 / 70)
    assert "Plain ReLU and BatchNorm" not in verdicts[delta_relu].confounded  # says what differs
    assert "learning rate" in verdicts[delta_relu].confounded
    assert status[magnitude] == "supports"  # 8 against 8
    assert status[nzr] == "supports"
    assert status[crelu_plain] == "supports"
    assert status[crelu_np2] == "contradicts"  # CReLU 22-25 % vs ReLU 18-21 % error
    assert status[crelu_bn] == "inconclusive"  # 8-11 % vs 10-13 %: overlap
    assert status[np_drop] == "supports" and status[np2] == "supports"
    # every NormProp CReLU run diverged: training broke down in 4 of 4 runs against 0 of 4
    assert status[np_crelu] == "supports" and verdicts[np_crelu].p_for == pytest.approx(1 / 70)
    assert "NormProp CReLU 4/4 runs, NormProp2 CReLU 0/4" in verdicts[np_crelu].evidence
    assert status[gap_np2] == "supports"
    # the same 8 runs after training against at initialisation, 0.2 higher in every one: p = 1 / 2^8
    assert status[coherence] == "supports" and verdicts[coherence].p_for == pytest.approx(1 / 256)
    assert "signed-rank test on 8 pairs" in verdicts[coherence].evidence


def test_report_files(synth, tmp_path):
    name, path, _ = synth
    _, md = build_report(name, "s", path, tmp_path / "out")
    assert {p.name for p in md.parent.iterdir()} == {
        "report.md",
        "runs.csv",
        "figure2.png",
        "error.png",
        "figure3.png",
    }


# -- a tiny real run ----------------------------------------------------------------------------------


def test_tiny_run_end_to_end(tmp_path):
    data = tmp_path / "data"
    write_tiny_mnist(data / "mnist", n_train=64, n_test=32)
    scale = _tiny_scale("tiny", seeds=1, epochs=1, extra={"data.name": "mnist", "data.batch_size": 32})
    name = _small_preset("test-crelu-tiny", scale, ["normprop2_relu", "bn_crelu"])
    result = reproduce(name, "tiny", store=tmp_path / "normact.sqlite", data_dir=data)
    assert [(i.variant, i.status) for i in result.items] == [
        ("normprop2_relu", "finished"),
        ("bn_crelu", "finished"),
    ]
    history = ResultsStore(tmp_path / "normact.sqlite").history(1)[0]
    assert {"residual_delta/layer1.0", "residual_delta/layer3.0", "nonzero_ratio/layer3.0.act"} <= set(
        history
    )
    assert "coherence/layer2.0.conv2.weight" in history
    text = result.path.read_text()
    assert "| NormProp2 ReLU |" in text and "| BatchNorm CReLU |" in text
    assert result.report.verdicts == []  # no claim has all its arms among these two variants


def test_init_coherence_matches_the_runners_initial_weights(tmp_path):
    # with lr 0 the weights after the epoch are the initial ones: the stored coherence must equal the
    # analysis' rebuilt initial coherence exactly
    data = tmp_path / "data"
    write_tiny_mnist(data / "mnist", n_train=32, n_test=16)
    extra = {"data.name": "mnist", "data.batch_size": 16, "optim.lr": 0.0}
    name = _small_preset(
        "test-crelu-lr0", _tiny_scale("lr0", seeds=1, epochs=1, extra=extra), ["normprop2_crelu"]
    )
    result = reproduce(name, "lr0", store=tmp_path / "normact.sqlite", data_dir=data)
    assert [i.status for i in result.items] == ["finished"]
    runs = collect_runs(get_preset(name), "lr0", tmp_path / "normact.sqlite")
    stored = {
        k: float(v[0])
        for k, v in runs.runs["normprop2_crelu"][0].metrics.items()
        if k.startswith("coherence/")
    }
    rebuilt = cn._init_coherence(runs, "normprop2_crelu")[0]
    assert len(stored) == 6 and stored == {f"coherence/{k}": v for k, v in rebuilt.items()}
