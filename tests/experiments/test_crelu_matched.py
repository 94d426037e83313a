"""crelu-matched: Table 3's networks and recipe, and the smoke scale end to end with the parameter counts."""

from normact.experiments import get_preset
from normact.experiments import reproduce as run_reproduce
from normact.functional import fused_kernels
from normact.models import create_model
from normact.train import ResultsStore

from .test_anact_resnet50 import write_tiny_cifar100


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_networks_follow_table_3():
    preset = get_preset("crelu-matched")
    assert list(preset.variants) == ["relu", "crelu"] and set(preset.scales) == {
        "smoke",
        "cpu",
        "full",
        "full-cifar10",
    }
    for scale, data, widths, decay in (
        ("full", "cifar100", (2.0, 1.5), 5e-4),
        ("full-cifar10", "cifar10", (1.0, 0.75), 1e-4),
    ):
        runs = {c.variant: c for c in preset.sweep(scale).configs() if c.train.seed == 0}
        assert len(preset.sweep(scale).configs()) == 2 * 5  # the median of 5 runs
        for v, width in zip(("relu", "crelu"), widths, strict=True):
            c = runs[v]
            assert (c.data.name, c.model.act, c.model.kwargs.get("width", 1.0), c.optim.weight_decay) == (
                data,
                v,
                width,
                decay,
            )
            assert (c.model.name, c.model.kwargs["depth"], c.model.kwargs["norm"], c.model.init) == (
                "resnet_cifar",
                110,
                "bn",
                "he",
            )
            assert (c.optim.lr, c.optim.nesterov, c.train.epochs, c.schedule.milestones) == (
                0.1,
                True,
                164,
                [81, 122],
            )
    # the cpu stand-in keeps the CIFAR-10 column's 4:3 ratio of filters
    cpu = {c.variant: c for c in preset.sweep("cpu").configs() if c.train.seed == 0}
    assert (cpu["relu"].model.kwargs["width"], cpu["crelu"].model.kwargs["width"]) == (0.5, 0.375)
    assert cpu["relu"].data.name == "fashion_mnist" and cpu["relu"].optim.weight_decay == 1e-4
    # "similar number of parameters": the narrower CReLU network is the smaller one, within 20 %
    for classes, (wr, wc) in ((10, (1.0, 0.75)), (100, (2.0, 1.5))):
        relu = _params(create_model("resnet_cifar", num_classes=classes, depth=110, act="relu", width=wr))
        crelu = _params(create_model("resnet_cifar", num_classes=classes, depth=110, act="crelu", width=wc))
        assert 0.8 < crelu / relu < 1.0


def test_smoke_scale_end_to_end(tmp_path):
    write_tiny_cifar100(tmp_path / "data" / "cifar-100-python", n_train=64, n_test=32)
    with fused_kernels(False):
        result = run_reproduce(
            "crelu-matched", "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data"
        )
    assert [(i.variant, i.status) for i in result.items] == [("relu", "finished"), ("crelu", "finished")]
    text = result.path.read_text()
    store = ResultsStore(tmp_path / "r.sqlite")
    for item, filters, width, paper in zip(
        result.items,
        ("32-64-128", "24-48-96"),
        (2.0, 1.5),
        ("22.50 (32-64-128)", "22.06 (24-48-96)"),
        strict=True,
    ):
        act = item.variant
        error = f"{100 * (1 - store.history(item.run_id)[-1]['test_acc']):.2f}"
        params = _params(create_model("resnet_cifar", num_classes=100, depth=8, act=act, width=width))
        label = {"relu": "ReLU", "crelu": "CReLU"}[act]
        assert f"| {label} | {filters} | {params:,} | {error} [{error}, {error}] | {paper} | 1 |" in text
    assert result.report.verdicts == []
