import dataclasses

import pytest
import yaml

from normact.experiments import Scale, get_preset, list_presets, load_preset, register_preset
from normact.experiments.presets import anact_lenet5
from normact.train import ConfigError, config_hash, with_overrides

TABLE1 = ["tanh", "leaky_relu", "elu", "selu", "relu", "relu_gpn", "nrelu", "swish", "nswish"]


def test_registry_finds_the_preset_modules():
    assert "anact-lenet5" in list_presets()
    assert get_preset("anact-lenet5") is anact_lenet5.PRESET
    with pytest.raises(ValueError, match=r"unknown preset 'anact-lenet'; choose from \[.*'anact-lenet5'"):
        get_preset("anact-lenet")
    with pytest.raises(ValueError, match="already registered"):
        register_preset(dataclasses.replace(anact_lenet5.PRESET))


def test_anact_lenet5_scales():
    preset = get_preset("anact-lenet5")
    assert list(preset.variants) == TABLE1
    assert set(preset.scales) == {"cpu", "full"}
    cpu, full = preset.sweep("cpu"), preset.sweep("full")
    assert (cpu.seeds, len(cpu.configs())) == (list(range(5)), 45)
    assert (len(full.seeds), full.base.train.epochs, full.base.data.name) == (25, 50, "mnist")
    assert cpu.base.data.name == "fashion_mnist" and cpu.base.train.probes == ["score", "weight_means"]
    assert {c.model.act for c in cpu.configs()} == set(TABLE1)
    assert preset.scale("full").analysis == {"threshold": 0.98, "columns": [5, 10, 15, 30, 50]}
    assert len(preset.claims) == 7
    with pytest.raises(ValueError, match=r"no scale 'gpu'; choose from \['cpu', 'full'\]"):
        preset.sweep("gpu")
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        preset.sweep("cpu", 0)


def test_unhashed_overrides_keep_the_runs_identity():
    preset = get_preset("anact-lenet5")
    plain = preset.sweep("cpu", 2).configs()
    moved = preset.sweep("cpu", 2, {"data.root": "/elsewhere", "train.out_dir": "/tmp/x", "train.threads": 1})
    assert [config_hash(c) for c in plain] == [config_hash(c) for c in moved.configs()]
    assert config_hash(plain[0]) != config_hash(with_overrides(plain[0], {"optim.lr": 0.02}))


def _write(tmp_path, spec):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


GOOD = {
    "name": "t",
    "paper": "p",
    "title": "t",
    "config": {"model": {"name": "lenet5"}},
    "variants": {"relu": {"model.act": "relu"}, "tanh": ["model.act=tanh"], "base": None},
    "scales": {"cpu": {"seeds": 4, "minutes": 1, "config": {"train.epochs": 3}, "notes": "a\n  b"}},
    "metrics": {"acc": {"key": "test_acc", "better": "higher"}},
    "claims": [
        {
            "text": "ReLU beats Tanh",
            "metric": "acc",
            "arms": ["relu", "tanh"],
            "direction": "greater",
            "test": "rank_sum",
        }
    ],
}


def test_load_preset(tmp_path):
    preset = load_preset(_write(tmp_path, GOOD))
    assert preset.variants == {"relu": {"model.act": "relu"}, "tanh": {"model.act": "tanh"}, "base": {}}
    assert preset.scales["cpu"] == Scale("cpu", 4, 1.0, {"train.epochs": 3}, {}, "a b")
    assert [c.variant for c in preset.sweep("cpu", 2).configs()] == [
        "relu",
        "relu",
        "tanh",
        "tanh",
        "base",
        "base",
    ]
    assert [c.text for c in preset.claims] == ["ReLU beats Tanh"] and preset.analysis == "t"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nme": "x"}, "unknown key 'nme'"),
        ({"scales": {"cpu": {"seeds": 4}}}, "scale 'cpu': missing key 'minutes'"),
        ({"scales": {"cpu": {"seeds": 4, "minutes": 1, "epochs": 3}}}, "unknown key 'epochs'"),
        ({"variants": {"relu": 3}}, "variant 'relu' must be a mapping"),
    ],
)
def test_load_preset_errors(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_preset(_write(tmp_path, {**GOOD, **change}))


def test_register_checks_every_config(tmp_path):
    bad = {**GOOD, "name": "t-bad", "variants": {"relu": {"optim.lrr": 1}, "tanh": None}}
    with pytest.raises(ConfigError, match=r"unknown config key 'optim\.lrr'"):
        register_preset(load_preset(_write(tmp_path, bad)))
    assert "t-bad" not in list_presets()
    bad = {**GOOD, "name": "t-bad", "variants": {"relu": {"train.probes": ["scor"]}, "tanh": None}}
    with pytest.raises(ValueError, match=r"train.probes\[0\]: unknown probe callback 'scor'"):
        register_preset(load_preset(_write(tmp_path, bad)))


def test_a_scale_may_name_its_own_variants(tmp_path):
    spec = {**GOOD, "scales": {
        "cpu": {**GOOD["scales"]["cpu"], "variants": {"short": ["optim.lr=0.5"], "plain": None}},
        "full": {"seeds": 4, "minutes": 9},
    }}  # fmt: skip
    preset = load_preset(_write(tmp_path, spec))
    assert preset.variants_of("cpu") == {"short": {"optim.lr": "0.5"}, "plain": {}}
    assert preset.variants_of("full") == preset.variants
    assert [(c.variant, c.optim.lr) for c in preset.sweep("cpu", 1).configs()] == [
        ("short", 0.5),
        ("plain", 0.1),
    ]
    assert [c.variant for c in preset.sweep("full", 1).configs()] == ["relu", "tanh", "base"]
    bad = {**spec, "scales": {"cpu": {**spec["scales"]["cpu"], "variants": {"x": 3}}}}
    with pytest.raises(ConfigError, match="scale 'cpu': variant 'x' must be a mapping"):
        load_preset(_write(tmp_path, bad))


def test_variant_config_applies_per_scale_after_the_variants_own(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: vc\npaper: p\ntitle: t\nconfig: {model: {name: mlp}}\n"
        "variants: {a_relu: {model.act: relu, train.epochs: 2}, b_relu: {model.act: relu}}\n"
        "metrics: {acc: {key: test_acc}}\n"
        "claims: [{text: c, metric: acc, arms: [a_relu, b_relu], direction: less, test: rank_sum}]\n"
        "scales:\n"
        "  one: {seeds: 4, minutes: 1, variant_config: {'a_*': {train.epochs: 5, data.name: digits}}}\n"
        "  two: {seeds: 4, minutes: 1}\n"
    )
    preset = load_preset(path)
    one = {c.variant: c for c in preset.sweep("one").configs()}
    two = {c.variant: c for c in preset.sweep("two").configs()}
    assert (one["a_relu"].train.epochs, one["a_relu"].data.name) == (5, "digits")
    assert (one["b_relu"].train.epochs, one["b_relu"].data.name) == (10, "fashion_mnist")
    assert (two["a_relu"].train.epochs, two["a_relu"].data.name) == (2, "fashion_mnist")
    assert preset.variants_of("one")["a_relu"] == {
        "model.act": "relu",
        "train.epochs": 5,
        "data.name": "digits",
    }
    path.write_text(path.read_text().replace("'a_*'", "'c_*'"))
    with pytest.raises(
        ConfigError, match=r"variant_config 'c_\*' matches no variant; variants: \['a_relu', 'b_relu'\]"
    ):
        load_preset(path)
