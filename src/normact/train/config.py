"""Run configuration: nested dataclasses loaded from YAML with dotted ``key=value`` overrides.

The defaults live in the dataclasses below and nowhere else. A config is built from a mapping (usually
``yaml.safe_load`` of a file) plus overrides; every key is checked against the dataclass fields and every
value against the field's type, so a typo or a wrong type is an error that names the key and the valid
choices instead of a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

_NO_HASH = {"hash": False}  # field metadata: the value does not change what the run computes
# field metadata of fields added after runs were stored: hashed only when set to another value than the
# default, so the hash of every config that leaves them alone stays what it was
_HASH_IF_SET = {"hash": "if_set"}
# field metadata of a setting that says where a run computes, not what: hashed as its default value,
# so the same run on another device keeps its key (the store records the device in its own column)
_HASH_AS_DEFAULT = {"hash": "as_default"}
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")  # the values of train.device


@dataclass
class DataConfig:
    """Where the data comes from and how it is batched."""

    name: str = "fashion_mnist"  # dataset name for normact.data.load_dataset
    root: str | None = field(default=None, metadata=_NO_HASH)  # data folder; None lets the loader find it
    options: dict[str, Any] = field(default_factory=dict)  # extra keywords for load_dataset
    batch_size: int = 128
    eval_batch_size: int = 1000
    drop_last: bool = False  # drop the last incomplete training batch of each epoch
    # training-batch augmentations in order: classes of normact.data.transforms with their arguments,
    # e.g. [{name: RandomCrop, size: 32, padding: 4}, {name: RandomHorizontalFlip}]
    transforms: list[dict[str, Any]] = field(default_factory=list)
    normalize: bool = True  # standardise every batch with the dataset's per-channel mean/std, if it has them
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixing weight; 0 turns mixup off
    # DataLoader worker processes for datasets that are not in-memory tensors (the order stays the run's)
    workers: int = field(default=0, metadata=_NO_HASH)

    def __post_init__(self) -> None:
        _at_least("data.batch_size", self.batch_size, 1)
        _at_least("data.eval_batch_size", self.eval_batch_size, 1)
        _at_least("data.mixup_alpha", self.mixup_alpha, 0)
        _at_least("data.workers", self.workers, 0)
        for i, spec in enumerate(self.transforms):
            if not isinstance(spec.get("name"), str):
                raise ConfigError(
                    f"config key 'data.transforms[{i}]' needs a name, e.g. {{name: RandomCrop, size: 32}}; "
                    f"got {spec!r}"
                )


@dataclass
class ModelConfig:
    """Which registered model to build and with what arguments."""

    name: str = "mlp"  # a name registered with normact.models.register_model
    act: str | None = None  # activation name, passed to the builder when set
    init: str | None = None  # weight initialisation scheme, passed to the builder when set
    kwargs: dict[str, Any] = field(default_factory=dict)  # any other builder arguments


@dataclass
class OptimConfig:
    """Optimiser, weight decay groups and gradient clipping."""

    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9  # SGD only
    nesterov: bool = False  # SGD only
    betas: tuple[float, float] = (0.9, 0.999)  # Adam/AdamW only
    eps: float = 1e-8  # Adam/AdamW only
    weight_decay: float = 0.0
    # selector -> weight decay for the parameters it selects, first match wins; selectors are
    # "norm", "norm.weight", "norm.bias" (normalization layers), "bias", or a glob on parameter names
    weight_decay_groups: dict[str, float] = field(default_factory=dict)
    clip_grad_value: float | None = None  # clamp each gradient entry to [-v, v]
    clip_grad_norm: float | None = None  # rescale gradients to total 2-norm at most this (after value)

    def __post_init__(self) -> None:
        _at_least("optim.lr", self.lr, 0)  # 0 trains nothing, which a measurement may want
        _in_unit("optim.momentum", self.momentum)
        for i, beta in enumerate(self.betas):
            _in_unit(f"optim.betas[{i}]", beta)
        _above("optim.eps", self.eps, 0)
        _at_least("optim.weight_decay", self.weight_decay, 0)
        for selector, decay in self.weight_decay_groups.items():
            _at_least(f"optim.weight_decay_groups.{selector}", decay, 0)
        _above("optim.clip_grad_value", self.clip_grad_value, 0)
        _above("optim.clip_grad_norm", self.clip_grad_norm, 0)


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, evaluated at every optimisation step."""

    name: Literal["constant", "step", "multistep", "cosine", "inverse_sqrt"] = "constant"
    step_size: int = 30  # step: epochs between decays
    milestones: list[int] = field(default_factory=list)  # multistep: epochs at which lr decays
    gamma: float = 0.1  # step/multistep: decay factor
    min_lr: float = 0.0  # cosine: final learning rate
    warmup_epochs: float = 0.0  # linear warm-up length (fractions of an epoch allowed)
    warmup_start_factor: float = 0.1  # lr multiplier at the first warm-up step
    # warm-up length in optimisation steps ("warmup updates"); replaces warmup_epochs when set
    warmup_steps: int | None = field(default=None, metadata=_HASH_IF_SET)

    def __post_init__(self) -> None:
        _at_least("schedule.warmup_steps", self.warmup_steps, 0)
        _at_least("schedule.step_size", self.step_size, 1)
        for milestone in self.milestones:
            _at_least("schedule.milestones", milestone, 1)
        _above("schedule.gamma", self.gamma, 0)
        _at_least("schedule.min_lr", self.min_lr, 0)
        _at_least("schedule.warmup_epochs", self.warmup_epochs, 0)
        _at_least("schedule.warmup_start_factor", self.warmup_start_factor, 0)


@dataclass
class TrainConfig:
    """Run settings: length, seed, device, checkpoints, progress display."""

    epochs: int = 10
    seed: int = 0
    device: str = field(
        default="cpu", metadata=_HASH_AS_DEFAULT
    )  # auto (CUDA when available), cpu, cuda, cuda:N
    # fp32, or autocast to bf16 (CPU and CUDA) or fp16 (CUDA, with a gradient scaler)
    precision: Literal["fp32", "bf16", "fp16"] = field(default="fp32", metadata=_HASH_IF_SET)
    compile: bool = field(default=False, metadata=_HASH_IF_SET)  # torch.compile the model
    channels_last: bool = field(default=False, metadata=_HASH_IF_SET)  # model and 4-d inputs channels-last
    sync_bn: bool = field(default=False, metadata=_HASH_IF_SET)  # under torchrun: BatchNorm -> SyncBatchNorm
    deterministic: bool = True  # torch.use_deterministic_algorithms(True, warn_only=True)
    threads: int | None = field(default=None, metadata=_NO_HASH)  # torch.set_num_threads; None keeps
    out_dir: str | None = field(default="runs", metadata=_NO_HASH)  # checkpoint root; None: none
    progress: Literal["auto", "bar", "log", "none"] = field(default="auto", metadata=_NO_HASH)
    probe_samples: int | None = 1000  # test samples handed to callbacks; None: the whole test set
    # per-epoch probe callbacks by name (normact.probes.callbacks), each a name or {name: ..., **kwargs},
    # e.g. [score, weight_means]
    probes: list[str | dict[str, Any]] = field(default_factory=list)
    # tracking tools that get the config, every epoch's metrics and the outcome (docs/training.md);
    # tensorboard and csv write into the run's folder under out_dir
    loggers: list[Literal["tensorboard", "csv", "mlflow"]] = field(default_factory=list, metadata=_NO_HASH)
    # classification: cross-entropy on (x, y); translation: teacher-forced cross-entropy on (src, tgt)
    # token ids with sacreBLEU of beam-search translations (docs/training.md)
    task: Literal["classification", "translation"] = field(default="classification", metadata=_HASH_IF_SET)
    label_smoothing: float = field(default=0.0, metadata=_HASH_IF_SET)  # of the training loss
    # translation: beam size of the test translations (1: greedy decoding) and the length penalty, the
    # exponent of the length a finished hypothesis's log-probability is divided by
    beam: int = field(default=5, metadata=_HASH_IF_SET)
    length_penalty: float = field(default=1.0, metadata=_HASH_IF_SET)

    def __post_init__(self) -> None:
        _at_least("train.epochs", self.epochs, 1)
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                f"config key 'train.label_smoothing' must be in [0, 1), got {self.label_smoothing!r}"
            )
        _at_least("train.beam", self.beam, 1)
        if not math.isfinite(self.length_penalty):
            raise ConfigError(
                f"config key 'train.length_penalty' must be a finite number, got {self.length_penalty!r}"
            )
        _at_least("train.threads", self.threads, 1)
        _at_least("train.probe_samples", self.probe_samples, 1)
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(
                f"config key 'train.device' must be auto, cpu, cuda or cuda:N, got {self.device!r}"
            )
        if self.precision == "fp16" and self.device == "cpu":
            raise ConfigError(
                "config key 'train.precision' is fp16, which needs a CUDA device (train.device is cpu); "
                "use bf16 or fp32 on the CPU"
            )


@dataclass
class Config:
    """A complete run: ``study`` and ``variant`` name it in the results store."""

    study: str = "default"
    variant: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        """Settings that are valid alone but not together."""
        if self.train.label_smoothing and self.data.mixup_alpha:
            raise ConfigError(
                "config keys 'train.label_smoothing' and 'data.mixup_alpha' cannot both be set; "
                "set one of them to 0"
            )
        decoding = [f for f in dataclasses.fields(TrainConfig) if f.name in ("beam", "length_penalty")]
        changed = [f.name for f in decoding if getattr(self.train, f.name) != _default(f)]
        if changed and self.train.task != "translation":
            raise ConfigError(
                f"config key 'train.{changed[0]}' works with train.task=translation only, "
                f"got train.task={self.train.task!r}"
            )
        if self.data.mixup_alpha and self.train.task != "classification":
            raise ConfigError(
                f"config key 'data.mixup_alpha' works with train.task=classification only, "
                f"got train.task={self.train.task!r}"
            )


class ConfigError(ValueError):
    """A config key is unknown or its value has the wrong type or range."""


def _at_least(key: str, value: float | None, low: float) -> None:
    """A finite ``value >= low`` (None passes: the field is off)."""
    if value is not None and not (math.isfinite(value) and value >= low):
        raise ConfigError(f"config key {key!r} must be >= {low}, got {value!r}")


def _above(key: str, value: float | None, low: float) -> None:
    """A finite ``value > low`` (None passes: the field is off)."""
    if value is not None and not (math.isfinite(value) and value > low):
        raise ConfigError(f"config key {key!r} must be > {low}, got {value!r}")


def _in_unit(key: str, value: float) -> None:
    if not 0 <= value < 1:
        raise ConfigError(f"config key {key!r} must be in [0, 1), got {value!r}")


def load_config(
    source: str | Path | Mapping[str, Any] | None = None, overrides: Iterable[str] = ()
) -> Config:
    """Build a ``Config`` from a YAML file or a mapping, then apply ``key=value`` overrides.

    Args:
        source: path of a YAML file, a mapping with the same structure, or None for the defaults.
        overrides: strings such as ``"optim.lr=0.01"``; nested keys are joined by dots and the value is
            parsed by the field's type (lists and mappings as YAML, ``null`` for None).
    """
    raw = _read_source(source)
    for item in overrides:
        key, value = parse_override(item)
        set_key(raw, key, value)
    return _build(Config, raw, "")


def parse_override(item: str) -> tuple[str, str]:
    """Split ``"key=value"`` into its key and (unparsed) value."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optim.lr=0.01)")
    return key.strip(), value.strip()


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted ``key`` of the raw nested mapping ``raw`` in place, checking the key exists.

    A string value is kept as given and converted by the field's type when the config is built;
    below a free-form mapping field (e.g. ``model.kwargs.depth``) a string value is parsed as YAML.
    """
    parts = key.split(".")
    cls: Any = Config
    node = raw
    for i, part in enumerate(parts):
        path = ".".join(parts[: i + 1])
        if cls is None:  # inside a free-form mapping
            hint = None
        else:
            hints = _field_types(cls)
            if part not in hints:
                raise ConfigError(_unknown_key(path, cls))
            hint = hints[part]
        if i == len(parts) - 1:
            if cls is None and isinstance(value, str):
                value = yaml.safe_load(value) if value else value
            node[part] = value
            return
        if dataclasses.is_dataclass(hint):
            cls = hint
        elif cls is None or typing.get_origin(hint) is dict:
            cls = None
        else:
            raise ConfigError(f"config key {path!r} is a value, not a section; cannot set {key!r}")
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"config key {path!r} must be a mapping to set {key!r}, got {child!r}")
        node = child


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain nested dicts, lists and scalars (JSON and YAML safe)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_hash(config: Config) -> str:
    """SHA-256 of the config's canonical JSON, leaving out fields that do not change the results.

    Those are ``data.root``, ``data.workers``, ``train.threads``, ``train.out_dir``, ``train.progress``
    and ``train.loggers``; ``train.device`` counts as its default (``cpu``), so a run keeps its key on
    any device; ``study``, ``variant`` and ``train.seed`` are included. Fields added later
    (``train.task``, ``train.label_smoothing``, ``schedule.warmup_steps``, ``train.precision``,
    ``train.compile``, ``train.channels_last``, ``train.sync_bn``, ``train.beam``,
    ``train.length_penalty``) count only when they differ from their default, so configs that leave
    them alone keep the hash they had before those fields existed.
    """
    payload = json.dumps(_hashed(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def with_overrides(config: Config, overrides: Mapping[str, Any] | Iterable[str]) -> Config:
    """A copy of ``config`` with overrides applied: ``key=value`` strings or a ``{key: value}`` mapping."""
    raw = config_to_dict(config)
    items = overrides.items() if isinstance(overrides, Mapping) else map(parse_override, overrides)
    for key, value in items:
        set_key(raw, key, value)
    return _build(Config, raw, "")


def _hashed(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            rule, value = f.metadata.get("hash", True), getattr(obj, f.name)
            if rule == "as_default":
                out[f.name] = _hashed(_default(f))
            elif rule is True or (rule == "if_set" and value != _default(f)):
                out[f.name] = _hashed(value)
        return out
    return json.loads(json.dumps(obj))


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def read_yaml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The mapping in the YAML file ``path`` ({} for an empty file); every failure names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"{what} {str(path)!r} is not a UTF-8 text file (expected a YAML mapping)"
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {problem}{where}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {str(path)!r} must hold a mapping at top level, got {raw!r}")
    return raw


def _read_source(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return json.loads(json.dumps(source)) if source else {}
    return read_yaml(source)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unknown_key(path: str, cls: type) -> str:
    section = path.rpartition(".")[0]
    where = f"in {section!r}" if section else "at top level"
    return f"unknown config key {path!r}; valid keys {where}: {', '.join(_field_types(cls))}"


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config section {prefix.rstrip('.') or '<top>'!r} must be a mapping, got {raw!r}")
    hints = _field_types(cls)
    for key in raw:
        if key not in hints:
            raise ConfigError(_unknown_key(f"{prefix}{key}", cls))
    values = {}
    for name, hint in hints.items():
        if name not in raw:
            continue
        path = f"{prefix}{name}"
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name] if raw[name] is not None else {}, f"{path}.")
        else:
            values[name] = _coerce(raw[name], hint, path)
    return cls(**values)


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` against the type ``hint``, converting strings (from overrides) by that type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)

    def fail() -> ConfigError:
        return ConfigError(f"config key {path!r} expects {_type_name(hint)}, got {value!r}")

    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value in ("null", "None", "none", "~")):
            if type(None) in args:
                return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                pass
        raise fail()
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"config key {path!r} must be one of {list(args)}, got {value!r}")
    if origin in (list, tuple, dict):
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise fail() from None
        if origin is dict:
            if not isinstance(value, Mapping):
                raise fail()
            key_t, val_t = args
            return {_coerce(k, key_t, path): _coerce(v, val_t, f"{path}.{k}") for k, v in value.items()}
        if not isinstance(value, list | tuple):
            raise fail()
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"config key {path!r} expects {len(args)} values, got {value!r}")
            return tuple(_coerce(v, t, path) for v, t in zip(value, args, strict=True))
        return origin(_coerce(v, args[0], path) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise fail()
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise fail() from None
        raise fail()
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail() from None
        raise fail()
    if hint is str:
        if isinstance(value, str):
            return value
        raise fail()
    raise TypeError(f"config field {path!r} has unsupported type {hint!r}")
