"""crelu-imagenet: Table 4's networks and recipe, the selection of the initial rate, and the smoke scale
end to end on an ImageNet-layout folder with top-1 and top-5 error beside the paper's."""

import dataclasses

from normact.experiments import get_preset
from normact.experiments import reproduce as run_reproduce
from normact.experiments.presets.crelu_imagenet import PAPER_TABLE4
from normact.functional import fused_kernels
from normact.models import Bottleneck
from normact.models.resnet import RESNET_LAYERS
from normact.train import ResultsStore
from normact.train.loop import build_model

from .conftest import preset_subset, write_imagenet


def test_networks_and_recipe_follow_table_4():
    preset = get_preset("crelu-imagenet")
    assert list(preset.variants) == list(PAPER_TABLE4) and set(preset.scales) == {"smoke", "full"}
    full = {c.variant: c for c in preset.sweep("full").configs() if c.train.seed == 0}
    for v, c in full.items():
        depth, norm, act = v.split("_")
        kw = c.model.kwargs
        assert (f"r{kw['depth']}", kw["norm"].replace("normprop", "np"), c.model.act) == (depth, norm, act)
        assert c.model.init == ("he" if norm == "bn" else "xavier")  # MSR for BN, Xavier for the others
        assert (kw["stem"], kw["shortcut"], c.data.name) == ("imagenet", "B", "imagenet")
    c = full["r50_bn_crelu"]
    assert (c.optim.name, c.optim.lr, c.optim.momentum, c.optim.nesterov, c.optim.weight_decay) == (
        "sgd", 0.1, 0.9, True, 1e-4)  # fmt: skip
    assert (c.data.batch_size, c.train.epochs, c.schedule.name, c.schedule.step_size, c.schedule.gamma) == (
        128, 150, "step", 30, 0.1)  # fmt: skip
    assert c.data.options == {"image_size": 224, "resize": 256, "train_crop": 256}
    assert preset.sweep("full").seeds == [0, 1, 2, 3]
    # the initial rate, 0.1 halved until feasible: selected for the Plain and NormProp networks only
    grid = preset.selection_sweep("full")
    tuned = sorted({v.split("@")[0] for v in grid.variants})
    assert tuned == sorted(v for v in PAPER_TABLE4 if "_bn_" not in v) and grid.seeds == [100]
    assert sorted({cfg.optim.lr for cfg in grid.configs()}) == [0.0125, 0.025, 0.05, 0.1]


def test_depths_are_he_et_al_s():
    """ResNet-34 of basic blocks, ResNet-50 and 101 of bottlenecks, with 16, 16 and 33 blocks; a CReLU
    network keeps each block's number of filters, so only the layers after a CReLU grow."""
    preset = get_preset("crelu-imagenet")
    full = {c.variant: c for c in preset.sweep("full").configs() if c.train.seed == 0}
    blocks = {}
    for v in ("r34_bn_relu", "r50_bn_relu", "r101_bn_relu"):
        depth = full[v].model.kwargs["depth"]
        blocks[depth] = sum(RESNET_LAYERS[depth][1])
    assert blocks == {34: 16, 50: 16, 101: 33} and RESNET_LAYERS[50][0] is Bottleneck
    small = {v: dataclasses.replace(full[v].model, kwargs={**full[v].model.kwargs, "width": 0.125})
             for v in ("r34_bn_relu", "r34_bn_crelu")}  # fmt: skip
    relu, crelu = (build_model(m, 1000, (3, 64, 64)) for m in small.values())
    assert relu.fc.in_features == crelu.fc.in_features == 64  # the same filters out of every block
    assert sum(p.numel() for p in crelu.parameters()) > sum(p.numel() for p in relu.parameters())


def test_smoke_scale_end_to_end(tmp_path):
    """Basic and bottleneck blocks, NormProp3, BatchNorm, CReLU and the 101-layer network."""
    rows = ["r34_np3_crelu", "r50_bn_crelu", "r101_bn_relu"]
    name = preset_subset("crelu-imagenet", "test-crelu-imagenet-smoke", rows)
    write_imagenet(
        tmp_path / "data" / "imagenet", classes=("n01", "n02", "n03", "n04", "n05", "n06"), train=2
    )
    with fused_kernels(False):
        result = run_reproduce(name, "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    assert [(i.variant, i.status) for i in result.items] == [(v, "finished") for v in rows]
    assert result.report.verdicts == []  # the smoke scale judges nothing
    text = result.path.read_text()
    store = ResultsStore(tmp_path / "r.sqlite")
    for item in result.items:
        end = store.history(item.run_id)[-1]
        assert 0.0 <= end["test_acc"] <= end["test_acc5"] <= 1.0
        top1, top5 = (f"{100 * (1 - end[k]):.2f}" for k in ("test_acc", "test_acc5"))
        paper = PAPER_TABLE4[item.variant]
        row = f"| {get_preset(name).label(item.variant)} | {top1} [{top1}, {top1}] | {top5} | "
        assert row + f"{paper[0]:.2f} | {paper[1]:.2f} | 1 |" in text
    assert "| ResNet-101 BatchNorm CReLU | 21.89 | 5.92 | 20.63 | 5.35 |" in text  # Table 4 as printed
    assert (result.path.parent / "accuracy.png").is_file()
