import dataclasses
import hashlib
import json

import pytest
import yaml

from normact.train import Config, ConfigError, config_hash, config_to_dict, load_config, with_overrides


def test_defaults_come_from_the_dataclasses():
    assert load_config() == Config()
    assert load_config({}) == Config()


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "study": "s",
                "optim": {"name": "adamw", "lr": "1e-3", "betas": [0.8, 0.9]},
                "schedule": {"name": "multistep", "milestones": [5, 8]},
            }
        )
    )
    cfg = load_config(
        path,
        [
            "optim.lr=0.01",
            "optim.clip_grad_value=2",
            "optim.weight_decay_groups.norm=0",
            "train.epochs=4",
            "train.deterministic=false",
            "train.out_dir=null",
            "schedule.milestones=[1, 2, 3]",
            "model.kwargs.depth=8",
            "model.kwargs.widths=[4, 5]",
            "model.act=selu",
            "data.transforms=[{name: hflip}]",
        ],
    )
    assert cfg.study == "s"
    assert cfg.optim.name == "adamw"
    assert cfg.optim.lr == 0.01 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.optim.clip_grad_value == 2.0 and isinstance(cfg.optim.clip_grad_value, float)
    assert cfg.optim.weight_decay_groups == {"norm": 0.0}
    assert cfg.train.epochs == 4 and cfg.train.deterministic is False and cfg.train.out_dir is None
    assert cfg.schedule.milestones == [1, 2, 3]
    assert cfg.model.kwargs == {"depth": 8, "widths": [4, 5]}
    assert cfg.model.act == "selu"
    assert cfg.data.transforms == [{"name": "hflip"}]


def test_yaml_float_without_dot_is_a_float():
    # PyYAML reads 1e-3 as a string; a float field still accepts it.
    assert load_config(yaml.safe_load("optim: {lr: 1e-3}")).optim.lr == 1e-3


@pytest.mark.parametrize(
    ("source", "overrides", "message"),
    [
        ({}, ["optim.lrr=0.1"], r"unknown config key 'optim.lrr'; valid keys in 'optim': name, lr, momentum"),
        (
            {"optimizer": {}},
            [],
            r"unknown config key 'optimizer'; valid keys at top level: study, variant, data",
        ),
        ({"train": {"epoch": 3}}, [], r"unknown config key 'train.epoch'; valid keys in 'train': epochs"),
        ({}, ["optim.lr.x=1"], r"'optim.lr' is a value, not a section"),
        ({}, ["optim.lr=fast"], r"config key 'optim.lr' expects float, got 'fast'"),
        ({}, ["train.epochs=2.5"], r"config key 'train.epochs' expects int, got '2.5'"),
        ({"train": {"epochs": 2.5}}, [], r"config key 'train.epochs' expects int, got 2.5"),
        ({"train": {"epochs": True}}, [], r"config key 'train.epochs' expects int, got True"),
        ({"train": {"deterministic": 1}}, [], r"config key 'train.deterministic' expects bool, got 1"),
        (
            {},
            ["optim.name=rmsprop"],
            r"'optim.name' must be one of \['sgd', 'adam', 'adamw'\], got 'rmsprop'",
        ),
        ({}, ["optim.betas=[0.9]"], r"'optim.betas' expects 2 values"),
        ({}, ["schedule.milestones=[1, x]"], r"'schedule.milestones' expects int, got 'x'"),
        ({}, ["optim.weight_decay_groups.norm=big"], r"'optim.weight_decay_groups.norm' expects float"),
        ({"optim": 3}, [], r"section 'optim' must be a mapping"),
        ({}, ["optim.lr"], r"override 'optim.lr' is not of the form key=value"),
        ({}, ["train.epochs=0"], r"config key 'train.epochs' must be >= 1, got 0"),
        ({}, ["data.batch_size=-2"], r"config key 'data.batch_size' must be >= 1, got -2"),
        ({}, ["train.probe_samples=0"], r"config key 'train.probe_samples' must be >= 1, got 0"),
        ({}, ["data.mixup_alpha=-0.5"], r"config key 'data.mixup_alpha' must be >= 0, got -0.5"),
        (
            {},
            ["data.mixup_alpha=0.7", "train.label_smoothing=0.1"],
            r"'train.label_smoothing' and 'data.mixup_alpha' cannot both be set",
        ),
        (
            {},
            ["data.mixup_alpha=0.7", "train.task=translation"],
            r"'data.mixup_alpha' works with train.task=classification only, got train.task='translation'",
        ),
    ],
)
def test_bad_keys_and_types_are_named(source, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(source, overrides)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_round_trip_and_with_overrides():
    cfg = load_config({}, ["optim.betas=[0.5, 0.6]", "model.kwargs.depth=3"])
    assert load_config(config_to_dict(cfg)) == cfg
    other = with_overrides(cfg, {"optim.lr": 0.5, "model.act": "tanh"})
    assert (other.optim.lr, other.model.act, other.model.kwargs) == (0.5, "tanh", {"depth": 3})
    assert with_overrides(cfg, ["optim.lr=0.5"]).optim.lr == 0.5
    assert cfg.optim.lr == Config().optim.lr  # the original is untouched


def test_hash_ignores_display_and_location_but_not_semantics():
    base = Config()
    h = config_hash(base)
    assert len(h) == 64 and config_hash(Config()) == h
    for override in ("train.out_dir=elsewhere", "train.progress=log", "train.threads=1", "data.root=/data"):
        assert config_hash(with_overrides(base, [override])) == h, override
    for override in (
        "train.seed=1",
        "optim.lr=0.2",
        "variant=v",
        "model.kwargs.depth=2",
        "train.probes=[score]",
    ):
        assert config_hash(with_overrides(base, [override])) != h, override
    hashed = [f.name for f in dataclasses.fields(base.train) if f.metadata.get("hash", True)]
    assert "seed" in hashed and "out_dir" not in hashed


def test_fields_added_later_are_hashed_only_when_set():
    """Fields added after runs were stored keep the hashes of older configs until they are set."""
    cfg = Config()
    raw = config_to_dict(cfg)
    left_out = [("data", "root"), ("data", "workers"), ("train", "threads"), ("train", "out_dir"),
                ("train", "progress"), ("train", "loggers"), ("train", "task"), ("train", "label_smoothing"),
                ("schedule", "warmup_steps"), ("train", "precision"), ("train", "compile"),
                ("train", "channels_last"), ("train", "sync_bn"), ("train", "beam"),
                ("train", "length_penalty")]  # fmt: skip
    for section, key in left_out:
        del raw[section][key]
    old = hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert config_hash(cfg) == old
    assert config_hash(with_overrides(cfg, ["data.workers=4"])) == old
    assert config_hash(with_overrides(cfg, ["train.device=cuda:1"])) == old  # where, not what
    for override in ("train.task=translation", "train.label_smoothing=0.1", "schedule.warmup_steps=0",
                     "train.precision=bf16", "train.compile=true", "train.channels_last=true",
                     "train.sync_bn=true"):  # fmt: skip
        assert config_hash(with_overrides(cfg, [override])) != old, override
    translation = config_hash(with_overrides(cfg, ["train.task=translation"]))
    for override in ("train.beam=1", "train.length_penalty=0.6"):
        assert config_hash(with_overrides(cfg, ["train.task=translation", override])) != translation, override
