"""selfnorm-imagenet: Table 2's rows and recipe, each row's activation, the smoke scale end to end on an
ImageNet-layout folder, and a bad folder refused before any run."""

import pytest
import torch

from normact.data import CorruptDataError, MissingDataError
from normact.experiments import get_preset
from normact.experiments import reproduce as run_reproduce
from normact.experiments.presets.selfnorm_imagenet import PAPER_TABLE2
from normact.functional import fused_kernels
from normact.nn.selu import _SELUFamily
from normact.theory import solve
from normact.train import ResultsStore
from normact.train.loop import build_model

from .conftest import preset_subset, write_imagenet


def test_rows_and_recipe_follow_table_2_and_appendix_c():
    preset = get_preset("selfnorm-imagenet")
    assert list(preset.variants) == list(PAPER_TABLE2) and set(preset.scales) == {"smoke", "full"}
    full = {c.variant: c for c in preset.sweep("full").configs() if c.train.seed == 0}
    assert len(preset.sweep("full").seeds) == 4
    for v, cfg in full.items():
        assert (cfg.model.name, cfg.data.name, cfg.data.batch_size, cfg.train.epochs) == (
            "conv_mobilenet_v1", "imagenet", 512, 90)  # fmt: skip
        assert (cfg.optim.lr, cfg.schedule.milestones, cfg.schedule.gamma) == (0.02, [60, 75], 0.1)
        assert cfg.data.options == {"image_size": 224, "resize": 256, "train_crop": 256}
        assert cfg.data.mixup_alpha == (0.7 if "mixup" in v else 0.0)
        assert cfg.model.kwargs.get("centralize", False) is v.endswith("_wc")
        act_kwargs = cfg.model.kwargs.get("act_kwargs", {})
        assert act_kwargs.get("eps") == (0.06 if v.split("_")[0] in ("dselu", "sselu", "lselu") else None)
        assert act_kwargs.get("trainable_lambda", False) is v.endswith("_tl")
        assert act_kwargs.get("central", False) is ("_central" in v)
        assert act_kwargs.get("lam_min", 1.0) == (0.5 if "_lam05" in v else 1.0)
    assert full["bnrelu"].model.kwargs["block_order"] == "convention" and full["bnrelu"].model.act == "relu"
    assert preset.label("lselu_lam05_mixup") == "lSELU (lambda >= 0.5) + mixup"
    assert preset.label("sselu_central_mixup_tl") == "sSELU (central) + mixup (trainable lambda)"


def test_each_row_builds_the_activation_it_names():
    preset = get_preset("selfnorm-imagenet")
    for cfg in preset.sweep("smoke").configs():
        model = build_model(cfg.model, 2, (3, 32, 32))
        acts = [m for m in model.modules() if isinstance(m, _SELUFamily)]
        v, family = cfg.variant, cfg.variant.split("_")[0]
        has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        assert has_bn is (family == "bnrelu")
        assert hasattr(model.stem.layer, "parametrizations") is v.endswith("_wc")  # weight centralization
        if family not in ("dselu", "sselu", "lselu"):
            assert not acts
            continue
        assert len(acts) == 27  # the stem and the 13 blocks' two convolutions each
        sol = solve(family, 0.06, central="_central" in v, lam_min=0.5 if "_lam05" in v else 1.0)
        lams = [float(a.lam.detach()) if isinstance(a.lam, torch.Tensor) else a.lam for a in acts]
        assert lams == pytest.approx([sol.lam] * 27)
        assert acts[0].alpha == pytest.approx(sol.alpha)
        assert isinstance(acts[0].lam, torch.nn.Parameter) is v.endswith("_tl")
    lam05 = solve("lselu", 0.06, lam_min=0.5)
    assert lam05.lam == pytest.approx(0.5) and lam05.lam_at_bound  # the ablation's bound is active


def test_smoke_scale_end_to_end(tmp_path):
    """Four rows covering BN, weight centralization, the lambda bound, the centralized form and mixup."""
    rows = ["bnrelu_mixup", "selu_wc", "lselu_lam05_mixup", "sselu_central_mixup_tl"]
    name = preset_subset("selfnorm-imagenet", "test-selfnorm-imagenet-smoke", rows)
    write_imagenet(tmp_path / "data" / "imagenet")
    with fused_kernels(False):
        result = run_reproduce(name, "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    assert [(i.variant, i.status) for i in result.items] == [(v, "finished") for v in rows]
    text = result.path.read_text()
    assert "Table 2, the paper" in text and "| lSELU (lambda >= 0.5) + mixup | 63.30 ± 0.25 |" in text
    assert "| SELU + WC |" in text and (result.path.parent / "top1_curves.png").is_file()
    assert result.report.verdicts == []  # the smoke scale judges nothing
    history = ResultsStore(tmp_path / "r.sqlite").history(result.items[0].run_id)
    assert {"test_acc", "test_acc5", "train_loss"} <= set(history[-1])
    assert history[-1]["test_acc5"] == 1.0  # two classes: the top-min(5, C) prediction always hits


@pytest.mark.parametrize(
    ("layout", "error", "says"),
    [
        ("missing", MissingDataError, "dataset 'imagenet'"),
        ("no_val", MissingDataError, "holds 1 folder(s) (train/)"),
        ("flat_val", CorruptDataError, "no class folders, found 0 folder(s) and 2 file(s)"),
        ("tiny_imagenet", CorruptDataError, "n01/ holds 1 folder(s) (images/)"),
    ],
)
def test_a_bad_imagenet_folder_fails_before_any_run(tmp_path, layout, error, says):
    name = preset_subset("selfnorm-imagenet", "test-selfnorm-imagenet-bad", ["selu"])
    root = tmp_path / "data" / "imagenet"
    if layout != "missing":
        write_imagenet(root)
    if layout == "no_val":
        for path in sorted((root / "val").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (root / "val").rmdir()
    if layout == "flat_val":
        for path in (root / "val" / "n01").iterdir():
            path.rename(root / "val" / path.name)
        for cls in ("n01", "n02"):
            for path in (root / "val" / cls).iterdir():
                path.unlink()
            (root / "val" / cls).rmdir()
    if layout == "tiny_imagenet":  # train/<class>/images/*.png, as Tiny ImageNet ships
        for cls in ("n01", "n02"):
            (root / "train" / cls / "images").mkdir()
            for path in (root / "train" / cls).glob("*.png"):
                path.rename(root / "train" / cls / "images" / path.name)
    with pytest.raises(error) as err:
        run_reproduce(name, "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    message = str(err.value)
    assert says in message and str(tmp_path / "data") in message
    assert layout == "missing" or "expected train/<class>/<image> and val/<class>/<image>" in message
    assert "docs/data.md" in message or layout == "missing"
    assert not (tmp_path / "r.sqlite").exists() or ResultsStore(tmp_path / "r.sqlite").runs() == []
