"""The bnorder preset: its runs, its analysis on a synthetic store, and a tiny real run end to end."""

import dataclasses
import math
import re

import numpy as np
import pytest
import torch
from scipy import stats as sps
from torch import nn

from normact.experiments import (
    Scale,
    build_report,
    get_preset,
    list_presets,
    register_preset,
    render_markdown,
    reproduce,
    write_report,
)
from normact.experiments.presets import bnorder
from normact.models import create_model
from normact.nn import LeCunTanh
from normact.train import ResultsStore, config_hash, config_to_dict
from normact.train.optim import param_groups

from .conftest import write_imagenet, write_tiny_mnist

ACTS = ["tanh", "lecun_tanh", "softsign", "relu"]


def test_bnorder_variants_and_scales():
    preset = get_preset("bnorder")
    assert preset is bnorder.PRESET and len(preset.claims) == 14
    expected = [f"{a}_{o}" for a in ACTS for o in ("convention", "swap", "nwdbn", "nobn")]
    expected = [v for v in expected if v not in ("lecun_tanh_nobn", "softsign_nobn")]
    assert list(preset.variants) == expected
    assert set(preset.scales) == {"cpu", "cpu-mobilenet", "full", "full-cifar10", "full-tinyimagenet",
                                  *TABLE1_MOBILENET, "full-imagenet", "full-mobilenet-imagenet"}  # fmt: skip
    cpu = preset.sweep("cpu")
    assert (cpu.seeds, len(cpu.configs())) == (list(range(4)), 56)
    for cfg in cpu.configs():
        act, order = bnorder.split_variant(cfg.variant)
        assert cfg.model.act == act and cfg.model.name == "vgg16_11"
        assert cfg.model.kwargs["block_order"] == (
            "convention" if order == "nwdbn" else {"nobn": "none"}.get(order, order)
        )
        assert cfg.optim.weight_decay_groups == ({"norm": 0.0} if order == "nwdbn" else {})
        names = [p if isinstance(p, str) else p["name"] for p in cfg.train.probes]
        assert names == (
            ["channel_skewness", "sparsity"]
            if act == "relu"
            else ["saturation", "channel_skewness", "sparsity"]
        )
    full = preset.sweep("full")
    assert (full.base.data.name, full.base.train.epochs, full.base.schedule.milestones) == (
        "cifar100",
        200,
        [100, 150],
    )
    assert len(full.seeds) == 4 and len(full.configs()) == 56  # 3 seeds could not pass a rank-sum test
    for scale in ("full", "full-cifar10", "full-tinyimagenet", *TABLE1_MOBILENET):  # A.1's grid, per model
        select = preset.scale(scale).select
        assert select.grid == {"optim.lr": [0.1, 0.01], "optim.weight_decay": [5e-3, 1e-3, 5e-4, 1e-4]}
        assert (select.seeds, select.metric, select.better) == ((100, 101, 102), "accuracy", "higher")
        assert len(preset.selection_sweep(scale).configs()) == len(preset.variants_of(scale)) * 8 * 3
    assert preset.scale("cpu").select is None
    for scale, data in (("full-cifar10", "cifar10"), ("full-tinyimagenet", "tiny_imagenet")):
        sweep = preset.sweep(scale, 1)
        assert sweep.base.data.name == data
        assert [c.variant for c in sweep.configs()] == [
            "tanh_convention",
            "tanh_swap",
            "relu_convention",
            "relu_swap",
        ]


TABLE1_MOBILENET = {  # scale -> dataset of Table 1's MobileNet rows (section 7.1)
    "full-mobilenet": "cifar100",
    "full-mobilenet-cifar10": "cifar10",
    "full-mobilenet-tinyimagenet": "tiny_imagenet",
}
SECTION71 = ["tanh_convention", "tanh_swap", "relu_convention", "relu_swap"]


def test_table1_mobilenet_and_imagenet_scales():
    """MobileNet on CIFAR-10/100 and Tiny ImageNet with the A.1 recipe; VGG16_11 and MobileNet on
    ImageNet with A.1's ImageNet recipe (batch 256, 100 epochs, lr / 10 at 30 and 60, 3 decays)."""
    preset = get_preset("bnorder")
    for scale, data in TABLE1_MOBILENET.items():
        configs = preset.sweep(scale).configs()
        assert list(dict.fromkeys(c.variant for c in configs)) == SECTION71 and len(configs) == 16
        for c in configs:
            act, order = bnorder.split_variant(c.variant)
            assert (c.model.name, c.model.act, c.model.kwargs["block_order"], c.data.name) == (
                "mobilenet_v1", act, order, data)  # fmt: skip
            assert (c.model.kwargs["dropout"], c.data.batch_size, c.train.epochs) == (0.0, 128, 200)
            assert c.schedule.milestones == [100, 150] and c.train.probe_samples is None
    for scale, model in (("full-imagenet", "vgg16_11"), ("full-mobilenet-imagenet", "mobilenet_v1")):
        configs = preset.sweep(scale).configs()
        assert list(dict.fromkeys(c.variant for c in configs)) == SECTION71 and len(configs) == 16
        c = configs[0]
        assert (c.model.name, c.data.name, c.data.batch_size, c.train.epochs) == (model, "imagenet", 256, 100)
        assert (c.schedule.name, c.schedule.milestones, c.schedule.gamma) == ("multistep", [30, 60], 0.1)
        assert c.data.options == {"image_size": 224, "resize": 256, "train_crop": 256}
        select = preset.scale(scale).select
        assert select.grid == {"optim.lr": [0.1, 0.01], "optim.weight_decay": [1e-3, 5e-4, 1e-4]}
        assert select.seeds == (100,)  # the paper's one ImageNet seed
        grid = preset.selection_sweep(scale).configs()  # 4 arms x 6 points x 1 seed
        assert len(grid) == 24 and {(c.optim.lr, c.optim.weight_decay) for c in grid} == {
            (lr, wd) for lr in (0.1, 0.01) for wd in (1e-3, 5e-4, 1e-4)}  # fmt: skip
    vgg = preset.sweep("full-imagenet", 1).configs()[0].model.kwargs
    assert (vgg["pool_size"], vgg["classifier_width"], vgg["dropout"]) == (7, 4096, 0.5)  # the ImageNet head


def test_cpu_mobilenet_is_the_cpu_scale_with_mobilenet():
    """The stand-in for the MobileNet rows differs from the cpu scale only in the network and the rows."""
    preset = get_preset("bnorder")
    cpu = {(c.variant, c.train.seed): c for c in preset.sweep("cpu").configs()}
    mobilenet = preset.sweep("cpu-mobilenet").configs()
    assert len(mobilenet) == 16 and list(dict.fromkeys(c.variant for c in mobilenet)) == SECTION71
    for c in mobilenet:
        twin = cpu[c.variant, c.train.seed]
        assert (c.data, c.optim, c.schedule) == (twin.data, twin.optim, twin.schedule)
        train = (c.train.epochs, c.train.probe_samples)
        assert train == (twin.train.epochs, twin.train.probe_samples) == (6, 1000)
        model = (c.model.name, c.model.kwargs["width"], c.model.kwargs["dropout"])
        assert model == ("mobilenet_v1", 0.125, 0.0)
    assert preset.scale("cpu-mobilenet").select is None


def test_mobilenet_probes_see_the_stem_and_every_block():
    """The sparsity probe of the MobileNet scales selects the stem and the 26 convolution blocks, and
    their layer names sort in model order."""
    cfg = {c.variant: c for c in get_preset("bnorder").sweep("full-mobilenet", 1).configs()}["tanh_swap"]
    model = create_model("mobilenet_v1", num_classes=10, input_shape=(3, 32, 32), act="tanh",
                         **{**cfg.model.kwargs, "width": 0.125})  # fmt: skip
    where = next(p["where"] for p in cfg.train.probes if isinstance(p, dict))
    blocks = [n for n, _ in model.named_modules() if re.fullmatch(where, n)]
    assert len(blocks) == 27 and blocks[:3] == ["stem", "blocks.block1.spatial", "blocks.block1.pointwise"]
    shuffled = sorted(blocks, key=lambda n: n[::-1])
    assert sorted(shuffled, key=bnorder.layer_key) == blocks
    assert [bnorder.short_layer(n) for n in blocks[:2]] == ["stem", "block1.spatial"]
    assert bnorder.short_layer("blocks.block13.pointwise.act") == "block13.pointwise"


def test_split_variant_and_layer_order():
    assert bnorder.split_variant("lecun_tanh_nwdbn") == ("lecun_tanh", "nwdbn")
    with pytest.raises(ValueError, match="'tanh_sideways' is not <activation>_<order>"):
        bnorder.split_variant("tanh_sideways")
    names = ["classifier.fc2.act", "features.conv4_1.act", "classifier.fc1.act", "features.conv1_2.act"]
    assert sorted(names, key=bnorder.layer_key) == [names[3], names[1], names[2], names[0]]
    assert bnorder.short_layer("features.conv3_2.act") == "conv3_2"


def test_the_cpu_models_and_their_weight_decay():
    """Each order builds the blocks it names, and NWDBN's BN parameters get no weight decay."""
    configs = {c.variant: c for c in get_preset("bnorder").sweep("cpu", 1).configs()}
    built = {}
    for v in ("tanh_convention", "tanh_swap", "tanh_nwdbn", "tanh_nobn", "lecun_tanh_swap"):
        cfg = configs[v]
        built[v] = create_model(cfg.model.name, num_classes=10, input_shape=(1, 28, 28), act=cfg.model.act,
                                init=cfg.model.init, **cfg.model.kwargs)  # fmt: skip
    children = {v: [type(m).__name__ for m in m_.features.conv2_1] for v, m_ in built.items()}
    assert children["tanh_convention"] == children["tanh_nwdbn"] == ["Conv2d", "BatchNorm2d", "Tanh"]
    assert children["tanh_swap"] == ["Conv2d", "Tanh", "BatchNorm2d"]
    assert children["tanh_nobn"] == ["Conv2d", "Tanh"]
    assert isinstance(built["lecun_tanh_swap"].features.conv1_1.act, LeCunTanh)
    assert [type(m).__name__ for m in built["tanh_swap"].classifier.fc1] == ["Linear", "Tanh", "BatchNorm1d"]
    assert sum(isinstance(m, nn.Conv2d) for m in built["tanh_swap"].modules()) == 8  # VGG16_11
    assert sum(isinstance(m, nn.Linear) for m in built["tanh_swap"].modules()) == 3
    assert built["tanh_swap"].features.conv1_1.layer.out_channels == 8  # width 1/8 of 64
    groups = param_groups(built["tanh_nwdbn"], configs["tanh_nwdbn"].optim.weight_decay,
                          configs["tanh_nwdbn"].optim.weight_decay_groups)  # fmt: skip
    decay = {n: g["weight_decay"] for g in groups for n in g["names"]}
    norms = {
        n for n, m in built["tanh_nwdbn"].named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }
    for name, d in decay.items():
        assert d == (0.0 if name.rpartition(".")[0] in norms else 5e-3), name


# -- the analysis on a synthetic store ------------------------------------------------------------

LAYERS = ["features.conv1_1", "features.conv2_1", "classifier.fc1"]
# variant -> per seed: last-epoch accuracy, and a per-layer base value of saturation/skewness/sparsity
ACC = {
    "tanh_convention": [0.80, 0.81, 0.79, 0.82],
    "tanh_swap": [0.85, 0.84, 0.86, 0.83],
    "tanh_nwdbn": [0.83, 0.795, 0.84, 0.805],
    "tanh_nobn": [0.70, None, 0.72, 0.71],  # seed 1 diverged in its first epoch
    "relu_convention": [0.86, 0.87, 0.85, 0.86],
    "relu_swap": [0.85, 0.87, 0.84, 0.86],
}
LEVEL = {
    "tanh_convention": 0.3,
    "tanh_swap": 0.7,
    "tanh_nwdbn": 0.5,
    "tanh_nobn": 0.6,
    "relu_convention": 0.2,
    "relu_swap": 0.25,
}


@pytest.fixture(scope="module")
def bn_synth_preset():
    name = "test-bnorder-synth"
    if name not in list_presets():
        base = get_preset("bnorder")
        scale = Scale("s", seeds=4, minutes=1, config={"train.epochs": 2})
        variants = {v: base.variants[v] for v in ACC}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"s": scale}))
    return name


def _metric_value(variant, seed, layer_index):
    return LEVEL[variant] + 0.01 * seed + 0.05 * layer_index


@pytest.fixture
def bn_store(tmp_path, bn_synth_preset):
    path = tmp_path / "normact.sqlite"
    db = ResultsStore(path)
    for cfg in get_preset(bn_synth_preset).sweep("s").configs():
        acc = ACC[cfg.variant][cfg.train.seed]
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        if acc is None:
            db.finish_run(run_id, "diverged", diverged_epoch=1)
            continue
        for epoch in (1, 2):
            metrics = {"test_acc": acc - 0.1 * (epoch == 1), "time": 2.0}
            for i, layer in enumerate(LAYERS):
                value = _metric_value(cfg.variant, cfg.train.seed, i) * (0.5 if epoch == 1 else 1.0)
                if not cfg.variant.startswith("relu"):
                    metrics[f"saturation/{layer}.act"] = value
                metrics[f"channel_skewness/{layer}.act"] = 2 * value
                metrics[f"sparsity/{layer}"] = 1 - value
            db.log_epoch(run_id, epoch, metrics)
        db.finish_run(run_id, "finished")
    return path


def test_tables_by_hand(bn_store, bn_synth_preset):
    text = render_markdown(build_report(bn_synth_preset, "s", bn_store))
    conv, swap = np.array(ACC["tanh_convention"]), np.array(ACC["tanh_swap"])
    gain = (swap - conv).mean() * 100
    row = (f"| Tanh | {100 * conv.mean():.2f} ± {100 * conv.std(ddof=1):.2f} (4) | "
           f"{100 * swap.mean():.2f} ± {100 * swap.std(ddof=1):.2f} (4) |")  # fmt: skip
    assert row in text and f"| +{gain:.2f} pp |" in text
    assert "| ReLU |" in text and "71.00 ± 1.00 (4, 1 diverged)" in text
    sat = np.array([np.mean([_metric_value("tanh_swap", s, i) for i in range(3)]) for s in range(4)])

    def spread(x, digits, scale=1.0):
        x = np.asarray(x) * scale
        return f"{np.median(x):.{digits}f} [{x.min():.{digits}f}, {x.max():.{digits}f}]"

    assert f"| Tanh Swap | {spread(swap, 2, 100)} | {spread(sat, 3)} | {spread(2 * sat, 3)} |" in text
    assert f"| ReLU Swap | {spread(ACC['relu_swap'], 2, 100)} | – |" in text  # no saturation for ReLU
    assert "Diverged runs (seed, epoch): Tanh NoBN 1 (epoch" in text
    assert "| 0.848927" not in text and "0.718 / 0.288 / 0.849" in text  # the paper's sparsity, as printed
    # Table 1's rows beside what A.7 says of them: Tanh Swap above Convention on every seed, ReLU not
    assert f"| Tanh Swap − Tanh Convention | {bnorder.PAPER_TABLE1_TANH} | +{gain:.2f} pp | 4 of 4 |" in text
    relu = 100 * (np.array(ACC["relu_swap"]) - np.array(ACC["relu_convention"])).mean()
    assert f"| ReLU Swap − ReLU Convention | {bnorder.PAPER_TABLE1_RELU} | {relu:.2f} pp | 0 of 4 |" in text
    assert "Tanh Swap − ReLU Convention" not in text  # A.7 says that of MobileNet only
    layer_rows = [line for line in text.splitlines() if line.startswith("| conv") or line.startswith("| fc")]
    assert [r.split(" | ")[0] for r in layer_rows] == ["| conv1_1", "| conv2_1", "| fc1"]


def test_verdicts_on_the_synthetic_runs(bn_store, bn_synth_preset):
    rep = build_report(bn_synth_preset, "s", bn_store)
    verdicts = {v.claim: v for v in rep.verdicts}
    claims = [c.text for c in get_preset(bn_synth_preset).claims]
    # LeCun Tanh and Softsign have no runs here: their claims, and the gain over all three, are left out
    assert len(verdicts) == 10 and claims[2] not in verdicts and claims[3] not in verdicts
    swap = verdicts["Swap is more accurate than Convention with Tanh"]
    # complete separation of 4 against 4 runs: p = 1 / C(8, 4)
    assert swap.status == "supports" and swap.p_for == pytest.approx(1 / 70)
    saturation, skew, _, sparsity, nwdbn_acc, _, nwdbn_skew, nwdbn_sparsity, nobn_acc, _ = claims[4:]
    for claim in (saturation, skew, nwdbn_skew, nobn_acc):
        assert verdicts[claim].status == "supports", claim
    assert verdicts[sparsity].status == "contradicts"  # Swap is less sparse here (1 - value)
    assert verdicts[nwdbn_sparsity].status == "supports"
    p = sps.mannwhitneyu(
        ACC["tanh_nwdbn"], ACC["tanh_convention"], alternative="greater", method="exact"
    ).pvalue
    assert verdicts[nwdbn_acc].p_for == pytest.approx(p)
    nobn = verdicts[nobn_acc]  # the diverged run ranks last
    assert "Tanh NoBN [70.00, -∞, 72.00, 71.00]" in nobn.evidence and nobn.p_for == pytest.approx(1 / 70)


def test_write_report_files(bn_store, bn_synth_preset, tmp_path):
    path = write_report(build_report(bn_synth_preset, "s", bn_store), tmp_path / "out")
    for name in ("accuracy", "saturation", "skewness", "sparsity"):
        assert (tmp_path / "out" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name}.png)" in path.read_text()


# -- a tiny real run ------------------------------------------------------------------------------


def test_tiny_real_run_end_to_end(tmp_path):
    """Two variants, one seed, one epoch of a tiny MNIST-format set: the probes reach the report."""
    write_tiny_mnist(tmp_path / "data" / "mnist", n_train=64, n_test=32)
    name = "test-bnorder-tiny"
    if name not in list_presets():
        base = get_preset("bnorder")
        scale = Scale("tiny", seeds=1, minutes=0.1, config={
            "data.name": "mnist", "data.batch_size": 32, "model.kwargs.width": 0.0625, "train.epochs": 1,
            "train.probe_samples": 32, "train.threads": 1})  # fmt: skip
        variants = {v: base.variants[v] for v in ("lecun_tanh_convention", "lecun_tanh_swap")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"tiny": scale}))
    torch.manual_seed(0)
    result = reproduce(name, "tiny", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data", jobs=1)
    assert [i.status for i in result.items] == ["finished", "finished"]
    history = ResultsStore(tmp_path / "r.sqlite").history(ResultsStore(tmp_path / "r.sqlite").runs()[1].id)[
        -1
    ]
    sat = [k for k in history if k.startswith("saturation/")]
    spars = [k for k in history if k.startswith("sparsity/")]
    assert len(sat) == 10 and "saturation/features.conv4_1.act" in sat  # 8 convolutions and fc1, fc2
    assert sorted(spars, key=bnorder.layer_key)[0] == "sparsity/features.conv1_1"  # block outputs
    assert all(0 <= history[k] <= 1 for k in sat + spars) and not math.isnan(history["test_acc"])
    text = result.path.read_text()
    assert "| LeCun Tanh Swap |" in text and "Swap is more accurate than Convention with LeCun Tanh" in text


def _tiny_scale(scale: str, name: str, config: dict, select=None) -> str:
    """Register ``name``: bnorder with one scale, ``tiny``: ``scale``'s config and variants, one seed, with
    ``config`` on top (a tiny data set, network and run) and ``select`` instead of the scale's grid."""
    if name not in list_presets():
        base = get_preset("bnorder")
        real = base.scale(scale)
        tiny = Scale("tiny", seeds=1, minutes=0.1, config={**real.config, **config}, variants=real.variants,
                     select=select)  # fmt: skip
        register_preset(dataclasses.replace(base, name=name, scales={"tiny": tiny}))
    return name


def _final(store, item):
    return store.history(item.run_id)[-1]


def test_tiny_mobilenet_run_end_to_end(tmp_path):
    """Table 1's MobileNet rows (full-mobilenet's variants and probes) on a tiny MNIST-format set: the
    probes reach the stem and all 26 blocks, and the report sets our differences beside A.7's."""
    write_tiny_mnist(tmp_path / "data" / "mnist", n_train=64, n_test=32)
    name = _tiny_scale("full-mobilenet", "test-bnorder-mobilenet", {
        "data.name": "mnist", "data.transforms": [], "data.batch_size": 32, "model.kwargs.width": 0.0625,
        "train.epochs": 1, "train.probe_samples": 32, "train.threads": 1})  # fmt: skip
    torch.manual_seed(0)
    result = reproduce(name, "tiny", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data", jobs=1)
    assert [(i.variant, i.status) for i in result.items] == [(v, "finished") for v in SECTION71]
    store = ResultsStore(tmp_path / "r.sqlite")
    final = {i.variant: _final(store, i) for i in result.items}
    sat = [k for k in final["tanh_swap"] if k.startswith("saturation/")]
    spars = sorted((k for k in final["tanh_swap"] if k.startswith("sparsity/")), key=bnorder.layer_key)
    assert len(sat) == len(spars) == 27 and spars[:2] == ["sparsity/stem", "sparsity/blocks.block1.spatial"]
    assert not any(k.startswith("saturation/") for k in final["relu_swap"])  # ReLU has no asymptote
    text = result.path.read_text()
    g = final["tanh_swap"]["test_acc"] - final["relu_convention"]["test_acc"]
    row = f"| Tanh Swap − ReLU Convention | {bnorder.PAPER_TABLE1_MOBILENET} | {'+' if g >= 0 else ''}"
    assert row + f"{100 * g:.2f} pp | {int(g > 0)} of 1 |" in text
    assert "VGG16_11, CIFAR-100" not in text  # the paper's VGG numbers stay out of a MobileNet report
    assert "| block13.pointwise |" in text and "Top-5" not in text
    assert (result.path.parent / "sparsity.png").is_file()


@pytest.mark.parametrize("scale", ["full-imagenet", "full-mobilenet-imagenet"])
def test_tiny_imagenet_scale_end_to_end(tmp_path, scale):
    """An ImageNet scale's network and recipe on an ImageNet-layout folder of a few 36x40 images: the
    selection (two of the grid's points for one arm), the test runs, top-1 and top-5 in the report,
    and A.7's ReLU exception on ImageNet."""
    write_imagenet(
        tmp_path / "data" / "imagenet", classes=("n01", "n02", "n03", "n04", "n05", "n06"), train=2
    )
    select = dataclasses.replace(get_preset("bnorder").scale(scale).select, grid={"optim.lr": [0.1, 0.01]},
                                 variants=("tanh_swap",))  # fmt: skip
    name = _tiny_scale(scale, f"test-bnorder-{scale}", {
        "data.options": {"image_size": 32, "resize": 36, "train_crop": 36, "stats_samples": 4},
        "data.transforms": [{"name": "RandomCrop", "size": 32}, {"name": "RandomHorizontalFlip"}],
        "data.batch_size": 4, "data.eval_batch_size": 4, "model.kwargs.width": 0.03125, "train.epochs": 1,
        "train.threads": 1}, select)  # fmt: skip
    torch.manual_seed(0)
    result = reproduce(name, "tiny", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data", jobs=1)
    items = [i for i in result.items if "@" not in i.variant]  # the test runs, after the selection's
    assert [(i.variant, i.status) for i in result.items if i not in items] == [
        ("tanh_swap@optim.lr=0.1", "finished"), ("tanh_swap@optim.lr=0.01", "finished")]  # fmt: skip
    assert [(i.variant, i.status) for i in items] == [(v, "finished") for v in SECTION71]
    store = ResultsStore(tmp_path / "r.sqlite")
    top5 = {}
    for item in items:
        end = _final(store, item)
        assert 0.0 <= end["test_acc"] <= end["test_acc5"] <= 1.0
        top5[item.variant] = f"{100 * end['test_acc5']:.2f} (1)"
    text = result.path.read_text()
    assert (
        f"| Tanh | {top5['tanh_convention']} | {top5['tanh_swap']} |" in text.split("Top-5 test accuracy")[1]
    )
    assert bnorder.PAPER_TABLE1_RELU_IMAGENET in text and "optim.lr in {0.1, 0.01} (2 points)" in text
