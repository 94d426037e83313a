"""Probes: measurements attached to a model's modules by hooks, read back as plain data.

A :class:`Probe` says what to measure and where; :func:`attach` registers every probe's hooks on a
model and returns a :class:`ProbeSet`, a context manager that removes them again::

    with probes.attach(model, probes.SecondMoment(), probes.Saturation(where=nn.Tanh)) as p:
        for x, _ in loader:
            model(x)
    p.records()  # [{"metric": "second_moment", "layer": "act1", "value": 0.98, ...}, ...]

Hooks accumulate on the tensors' device and never synchronise with the host; results are copied to
the host in one transfer when they are read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from normact.probes.select import Where, activation_modules, select_modules
from normact.probes.stats import RunningMoments, Series, to_host

__all__ = ["LayerProbe", "Probe", "ProbeSet", "attach", "quiet_forward"]

Result = dict[str, Any]


class Probe:
    """Base class: a named measurement over selected modules, with per-layer state on the device.

    Subclasses set ``metric``, register their hooks in :meth:`_hook`, keep per-layer device state in
    ``self._state[layer]`` (tensors, ints, :class:`Series` or :class:`RunningMoments`) and turn its host
    copy into a result dict with a ``"value"`` entry in :meth:`_summarize`.

    Args:
        where: the modules to attach to (see :data:`normact.probes.select.Where`); each probe documents
            its default.
        name: key of this probe's results (defaults to ``metric``); give two probes of one kind
            different names to use both in one :class:`ProbeSet`.
    """

    metric: ClassVar[str] = ""

    def __init__(self, where: Where | None = None, name: str | None = None) -> None:
        self.where = where
        self.name = name or self.metric
        self.layers: list[tuple[str, nn.Module]] = []
        self._state: dict[str, dict[str, Any]] = {}

    def _default_where(self, model: nn.Module) -> Where:
        return [m for _, m in activation_modules(model)]

    def attach(self, model: nn.Module) -> list[RemovableHandle]:
        """Select the modules of ``model``, clear the state and register the hooks; returns the handles."""
        where = self.where if self.where is not None else self._default_where(model)
        if isinstance(where, list) and not where:
            raise ValueError(f"{self.name}: the model has no module of the default kind; pass where=")
        self.layers = select_modules(model, where, what=self.name)
        self._setup()
        self.reset()
        return [h for name, module in self.layers for h in self._hook(name, module)]

    def reset(self) -> None:
        """Forget everything accumulated so far (the hooks stay)."""
        self._state = {name: {} for name, _ in self.layers}

    def _setup(self) -> None:
        """Check or prepare per-layer settings once ``self.layers`` is known (before any hook exists)."""

    def _hook(self, name: str, module: nn.Module) -> list[RemovableHandle]:
        raise NotImplementedError

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        raise NotImplementedError

    def state(self) -> dict[str, dict[str, Any]]:
        """Per-layer device state with series stacked and moments unpacked (input of :func:`to_host`)."""

        def flat(value: Any) -> Any:
            if isinstance(value, Series):
                return value.tensor()
            if isinstance(value, RunningMoments):
                return {"count": value.count, **value.state()}
            return value

        return {layer: {k: flat(v) for k, v in st.items()} for layer, st in self._state.items()}

    def summarize(self, host: Mapping[str, dict[str, Any]]) -> dict[str, Result]:
        """Per-layer results from the host copy of :meth:`state`; layers never run have ``calls == 0``."""
        return {
            layer: self._summarize(layer, st) if st.get("calls") else {"value": float("nan"), "calls": 0}
            for layer, st in host.items()
        }

    def results(self) -> dict[str, Result]:
        """Per-layer results (one host transfer)."""
        return self.summarize(to_host(self.state()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, layers={len(self.layers)})"


class LayerProbe(Probe):
    """A probe of one tensor per call of each selected module: its input or its output.

    ``tap="input"`` reads the first positional input in a forward pre-hook (before an in-place
    activation can overwrite it); ``tap="output"`` reads the output in a forward hook. Subclasses
    implement :meth:`_observe`.
    """

    def __init__(self, where: Where | None = None, tap: str = "output", name: str | None = None) -> None:
        if tap not in ("input", "output"):
            raise ValueError(f"tap={tap!r}; choose 'input' or 'output'")
        super().__init__(where, name)
        self.tap = tap

    def _hook(self, name: str, module: nn.Module) -> list[RemovableHandle]:
        def check(x: Any) -> Tensor:
            if not isinstance(x, Tensor) or not x.is_floating_point():
                raise TypeError(
                    f"{self.name}: the {self.tap} of {name!r} ({type(module).__name__}) is "
                    f"{type(x).__name__ if not isinstance(x, Tensor) else x.dtype}, not a floating tensor"
                )
            return x.detach()

        def observe(x: Any) -> None:
            st = self._state[name]
            st["calls"] = st.get("calls", 0) + 1
            self._observe(name, module, st, check(x))

        if self.tap == "input":
            return [module.register_forward_pre_hook(lambda m, args: observe(args[0] if args else None))]
        return [module.register_forward_hook(lambda m, args, out: observe(out))]

    def _observe(self, name: str, module: nn.Module, state: dict[str, Any], x: Tensor) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, tap={self.tap!r}, layers={len(self.layers)})"


def accumulate(state: dict[str, Any], key: str, value: Tensor) -> None:
    """``state[key] += value`` on the device, creating the entry on first use."""
    state[key] = value if key not in state else state[key] + value


class ProbeSet:
    """Probes attached to one model; a context manager whose exit removes every hook.

    Results stay readable after :meth:`remove`.
    """

    def __init__(self, model: nn.Module, probes: list[Probe]) -> None:
        names = [p.name for p in probes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"probe names repeat; give name= to the repeats of {duplicates}")
        self.model = model
        self.probes = {p.name: p for p in probes}
        self._handles: list[RemovableHandle] = []
        try:
            for probe in probes:
                self._handles.extend(probe.attach(model))
        except BaseException:
            self.remove()
            raise

    def __enter__(self) -> ProbeSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __getitem__(self, name: str) -> Probe:
        return self.probes[name]

    def __iter__(self) -> Iterator[Probe]:
        return iter(self.probes.values())

    def remove(self) -> None:
        """Remove every hook this set registered (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def reset(self) -> None:
        """Clear every probe's accumulated state, e.g. between evaluation passes."""
        for probe in self.probes.values():
            probe.reset()

    def results(self) -> dict[str, dict[str, Result]]:
        """``{probe name: {layer: {"value": ..., ...}}}``; per-channel data and series as numpy arrays."""
        host = to_host({name: probe.state() for name, probe in self.probes.items()})
        return {name: probe.summarize(host[name]) for name, probe in self.probes.items()}

    def records(self) -> list[dict[str, Any]]:
        """One flat row per probe and layer: ``metric``, ``layer``, ``value`` and the other scalar fields."""
        rows = []
        for metric, layers in self.results().items():
            for layer, result in layers.items():
                scalars = {k: _scalar(v) for k, v in result.items() if np.ndim(v) == 0}
                rows.append({"metric": metric, "layer": layer, **scalars})
        return rows

    def series_records(self) -> list[dict[str, Any]]:
        """One flat row per probe, layer and step for the probes that keep a per-step series."""
        rows = []
        for metric, layers in self.results().items():
            for layer, result in layers.items():
                for step, value in enumerate(result.get("series", ())):
                    rows.append({"metric": metric, "layer": layer, "step": step, "value": float(value)})
        return rows


def _scalar(v: Any) -> Any:
    if isinstance(v, (np.generic, np.ndarray)):
        return v.item()
    return v


def quiet_forward(model: nn.Module, batch: Any) -> Any:
    """``model(batch)`` under ``torch.no_grad()`` with the global CPU and CUDA RNG states restored after."""
    devices = sorted(
        {t.device.index or 0 for t in (*model.parameters(), *model.buffers()) if t.device.type == "cuda"}
    )
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        return model(batch)


def attach(model: nn.Module, *probes: Probe) -> ProbeSet:
    """Attach ``probes`` to ``model``; use as ``with attach(model, SecondMoment()) as p: ...``."""
    if not probes:
        raise ValueError("attach() needs at least one probe, e.g. attach(model, SecondMoment())")
    for p in probes:
        if not isinstance(p, Probe):
            raise TypeError(f"attach() takes Probe instances, got {type(p).__name__}")
    return ProbeSet(model, list(probes))
