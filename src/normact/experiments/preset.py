"""Presets: a paper's study as data (run configs, variants, seeds per scale) plus its analysis.

A preset is one module in ``normact.experiments.presets`` that registers a :class:`Preset`, usually
read from a YAML file beside it::

    name: anact-lenet5
    paper: "ANAct (Peiwen et al.), section 3.1"
    title: LeNet5 with nine activations
    config: {model: {name: lenet5}, optim: {name: sgd, lr: 0.01}}   # a normact.train run config
    variants: {relu: {model.act: relu}, nrelu: {model.act: nrelu}}   # name -> overrides
    scales:
      cpu:                                   # --scale cpu
        seeds: 5
        minutes: 15                          # wall-clock estimate on 2 CPU cores
        config: {data.name: fashion_mnist, train.epochs: 15}
        analysis: {threshold: 0.86}          # handed to the preset's analysis
        notes: why these settings
        variants: {...}                      # optional: this scale's own variants instead of the preset's
        variant_config: {"fc_*": {data.name: digits}}   # optional: overrides for the variants a glob matches
        verdicts: true                       # false: a smoke check (one seed); no claim is judged
        select: {grid: {optim.lr: [0.1, 0.01]}, seeds: [100, 101, 102], metric: accuracy}
                                             # optional: select, then test (normact.experiments.selection)

    labels: {relu: ReLU, nrelu: NReLU}       # how the report names the variants
    metrics: {...}                           # the per-run numbers the claims use (normact.experiments.claims)
    claims: [...]                            # the paper's claims and how each is tested (same module)

The claims are checked when the file is loaded: an unknown variant, metric or test, a correlation over
fewer than three arms, a paired test over arms that do not share seeds, or a scale whose seed count
leaves a claim unable to reach p < 0.05 (``claims.min_p``) is an error naming the preset, the claim and
the field. A preset's module may add what YAML cannot (a metric no other preset computes, its
paper-shaped tables and figures) with ``normact.experiments.analysis.register_analysis``. Modules in
``normact.experiments.presets`` are imported the first time the registry is read, so adding a study
means adding a module there and nothing else.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import itertools
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from normact.experiments.claims import (
    Claim,
    Metric,
    check_fields,
    min_p,
    parse_claims,
    parse_metrics,
    validate_claim,
)
from normact.experiments.selection import Selection, parse_selection, point_name
from normact.experiments.verdict import ALPHA
from normact.train.config import Config, ConfigError, load_config, parse_override, with_overrides
from normact.train.sweep import Sweep

__all__ = ["Preset", "Scale", "get_preset", "list_presets", "load_preset", "register_preset"]


@dataclass(frozen=True)
class Scale:
    """One size of a study: ``cpu`` (minutes on a laptop), ``full`` (the paper's setting), ..."""

    name: str
    seeds: int  # seeds 0 .. seeds - 1 for every variant
    minutes: float  # wall-clock estimate of the whole sweep and report on 2 CPU cores with --jobs 2
    config: dict[str, Any] = field(default_factory=dict)  # dotted overrides of the preset's config
    analysis: dict[str, Any] = field(default_factory=dict)  # settings of the preset's analysis
    notes: str = ""
    variants: dict[str, dict[str, Any]] | None = None  # this scale's own variants; None: the preset's
    # glob on variant names -> dotted overrides applied after that variant's own at this scale, e.g.
    # {"fc_*": {data.name: digits}} gives one network's variants their dataset
    variant_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdicts: bool = True  # False: a check that the pieces run (one seed), no claim judged at this scale
    select: Selection | None = None  # tune each arm on selection seeds first (normact.experiments.selection)


@dataclass(frozen=True)
class Preset:
    """A reproducible study: runs to make and the paper's claims to judge from them.

    Args:
        name: the name on the command line (``normact reproduce NAME``) and the study in the store.
        paper: the paper and the section, tables and figures reproduced.
        title: one line saying what the study asks.
        claims: the claims and their tests (``normact.experiments.claims``).
        config: the base run config (``normact.train`` mapping) shared by every scale.
        variants: variant name -> overrides (a mapping of dotted keys or a list of ``key=value``).
        scales: the sizes the study can be run at, by name.
        metrics: the per-run numbers the claims use, by name.
        labels: variant -> the name the report gives it.
        analysis: the registered analysis that adds the preset's own tables and figures (default: its name).
    """

    name: str
    paper: str
    title: str
    claims: tuple[Claim, ...]
    config: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    scales: dict[str, Scale]
    metrics: dict[str, Metric] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    analysis: str = ""

    def label(self, variant: str) -> str:
        """The name the report gives ``variant``."""
        return self.labels.get(variant, variant)

    def scale(self, name: str) -> Scale:
        """The scale called ``name``; an unknown name lists the valid ones."""
        if name not in self.scales:
            raise ValueError(f"preset {self.name!r} has no scale {name!r}; choose from {list(self.scales)}")
        return self.scales[name]

    def sweep(
        self,
        scale: str,
        seeds: int | None = None,
        overrides: Mapping[str, Any] | None = None,
        picks: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Sweep:
        """The (variant, seed) grid of ``scale``: seeds ``0 .. seeds - 1`` (default: the scale's count).

        ``overrides`` (dotted keys) apply last; keys that do not change the results' hash
        (``data.root``, ``train.threads``, ``train.out_dir``, ``train.progress``) leave the runs
        comparable with runs made without them. ``picks``: the selected overrides of the tuned arms
        (see :meth:`variants_of`).
        """
        sc = self.scale(scale)
        n = sc.seeds if seeds is None else seeds
        if n < 1:
            raise ValueError(f"seeds must be >= 1, got {n}")
        if sc.select is not None and set(sc.select.seeds) & set(range(n)):
            raise ValueError(
                f"preset {self.name!r}, scale {scale!r}: {n} test seeds would include the selection seeds "
                f"{list(sc.select.seeds)}; choose fewer seeds"
            )
        variants = self.variants_of(scale, picks)
        return Sweep(study=self.name, base=self._base(sc, overrides), variants=variants, seeds=list(range(n)))

    def selection_sweep(self, scale: str, overrides: Mapping[str, Any] | None = None) -> Sweep | None:
        """The selection runs of ``scale``: every tuned arm at every grid point (variant
        ``arm@key=value,...``) on the selection seeds; None for a scale without ``select``."""
        sc = self.scale(scale)
        if sc.select is None:
            return None
        variants = self.variants_of(scale)
        grid = {
            point_name(arm, point): {**variants[arm], **point}
            for arm in sc.select.tuned(list(variants))
            for point in sc.select.points()
        }
        return Sweep(
            study=self.name, base=self._base(sc, overrides), variants=grid, seeds=list(sc.select.seeds)
        )

    def _base(self, sc: Scale, overrides: Mapping[str, Any] | None) -> Config:
        return with_overrides(
            load_config(self.config), {"study": self.name, **sc.config, **(overrides or {})}
        )

    def variants_of(
        self, scale: str, picks: Mapping[str, Mapping[str, Any]] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The variants run at ``scale`` with their overrides: the scale's own variants when it names
        them (e.g. a grid rescaled to a shorter run), else the preset's; then the overrides of every
        ``variant_config`` glob of the scale that matches a variant's name, in file order; then an
        arm's selected overrides in ``picks`` (arm -> dotted overrides), when the scale selects."""
        sc = self.scale(scale)
        out = {}
        for name, own in (self.variants if sc.variants is None else sc.variants).items():
            out[name] = dict(own)
            for pattern, overrides in sc.variant_config.items():
                if fnmatch.fnmatchcase(name, pattern):
                    out[name].update(overrides)
            out[name].update((picks or {}).get(name, {}))
        return out


_PRESETS: dict[str, Preset] = {}
_discovered = False


def register_preset(preset: Preset) -> Preset:
    """Add ``preset`` to the registry (a second preset with the same name is an error); returns it.

    Every variant of every scale must make a valid run config.
    """
    from normact.probes.callbacks import build_probe_callbacks

    if preset.name in _PRESETS and _PRESETS[preset.name] is not preset:
        raise ValueError(f"preset {preset.name!r} is already registered")
    for scale in preset.scales.values():
        grid = preset.selection_sweep(scale.name)
        if grid is not None:  # every point of the grid, on the first tuned arm, one seed
            points = dict(itertools.islice(grid.variants.items(), len(scale.select.points())))
            grid = dataclasses.replace(grid, variants=points, seeds=grid.seeds[:1])
        for cfg in [*preset.sweep(scale.name, 1).configs(), *(grid.configs() if grid else [])]:
            build_probe_callbacks(cfg.train.probes)  # every variant of every scale must be valid
    _PRESETS[preset.name] = preset
    return preset


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    from normact.experiments import presets

    for module in pkgutil.iter_modules(presets.__path__):
        importlib.import_module(f"{presets.__name__}.{module.name}")


def list_presets() -> list[str]:
    """Names of the registered presets, sorted."""
    _discover()
    return sorted(_PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name lists the valid ones."""
    _discover()
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {list_presets()}")
    return _PRESETS[name]


def check_claims(preset: Preset) -> None:
    """Check the claims against every scale's variants and seed count (module docstring)."""
    where = f"preset {preset.name!r}"
    variants = {s: preset.variants_of(s) for s in preset.scales}
    for i, claim in enumerate(preset.claims):
        at = f"{where}, claim {i + 1} ({claim.text!r})"
        validate_claim(claim, at, preset.metrics, variants)
        for scale in (s for s in preset.scales.values() if s.verdicts and claim.applies(variants[s.name])):
            p = min_p(claim, scale.seeds, len(claim.arms) or len(variants[scale.name]))
            if p >= ALPHA:
                raise ConfigError(
                    f"{at}: scale {scale.name!r} has {scale.seeds} seeds, with which its {claim.test} test "
                    f"cannot reach p < {ALPHA:g} (smallest p: {p:.3g}); raise the scale's seeds"
                )


_KEYS = ("name", "paper", "title", "config", "variants", "scales", "labels", "metrics", "claims")
_REQUIRED = ("name", "paper", "title", "config", "variants", "scales", "claims")
_SCALE_KEYS = (
    "seeds", "minutes", "config", "analysis", "notes", "variants", "variant_config", "verdicts", "select",
)  # fmt: skip


def load_preset(path: str | Path) -> Preset:
    """A :class:`Preset` from its YAML file (format in the module docstring)."""
    path = Path(path)
    with path.open() as f:
        raw = yaml.safe_load(f) or {}
    where = f"preset file {str(path)!r}"
    check_fields(raw, _KEYS, where, required=_REQUIRED, noun="key")
    variants = _variants(raw["variants"], where)
    at = f"preset {raw['name']!r}"
    metrics = parse_metrics(raw.get("metrics"), at)
    scales = {}
    for name, spec in raw["scales"].items():
        at = f"{where}, scale {name!r}"
        check_fields(spec, _SCALE_KEYS, at, required=("seeds", "minutes"), noun="key")
        own = _variants(spec["variants"], at) if "variants" in spec else None
        names = list(variants if own is None else own)
        select = spec.get("select")
        if select is not None:
            select = parse_selection(select, f"preset {raw['name']!r}, scale {name!r}", metrics, names,
                                     int(spec["seeds"]))  # fmt: skip
        scales[str(name)] = Scale(
            name=str(name),
            seeds=int(spec["seeds"]),
            minutes=float(spec["minutes"]),
            config=dict(spec.get("config") or {}),
            analysis=dict(spec.get("analysis") or {}),
            notes=" ".join(str(spec.get("notes", "")).split()),
            variants=own,
            variant_config=_variant_config(spec.get("variant_config"), names, at),
            verdicts=bool(spec.get("verdicts", True)),
            select=select,
        )
    at = f"preset {raw['name']!r}"
    preset = Preset(
        name=raw["name"],
        paper=raw["paper"],
        title=raw["title"],
        claims=parse_claims(raw["claims"], at, metrics),
        config=dict(raw["config"]),
        variants=variants,
        scales=scales,
        metrics=metrics,
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        analysis=raw["name"],
    )
    check_claims(preset)
    return preset


def _variants(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    """Variant name -> overrides, from a mapping of mappings, ``key=value`` lists or empty entries."""
    variants = {}
    for name, spec in (raw or {}).items():
        if spec is None:
            variants[str(name)] = {}
        elif isinstance(spec, Mapping):
            variants[str(name)] = dict(spec)
        elif isinstance(spec, list):
            variants[str(name)] = dict(parse_override(s) for s in spec)
        else:
            raise ConfigError(f"{where}: variant {name!r} must be a mapping or a list of key=value")
    return variants


def _variant_config(raw: Any, variants: list[str], where: str) -> dict[str, dict[str, Any]]:
    """A scale's ``variant_config``: glob -> overrides; a glob matching no variant is an error."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: variant_config must map variant-name globs to overrides, got {raw!r}")
    out = {}
    for pattern, overrides in raw.items():
        if not any(fnmatch.fnmatchcase(v, str(pattern)) for v in variants):
            raise ConfigError(f"{where}: variant_config {pattern!r} matches no variant; variants: {variants}")
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"{where}: variant_config {pattern!r} must be a mapping of overrides")
        out[str(pattern)] = dict(overrides)
    return out
