"""Probes as per-epoch callbacks of the training runner, built by name from a run config.

A run config lists them under ``train.probes`` (see ``docs/training.md``)::

    train:
      probe_samples: 1000
      probes: [score, weight_means, {name: saturation, where: "features\\.\\d"}]

An entry is a registered name or a mapping with ``name`` and the keyword arguments of its factory. The
runner builds them in the process that trains (sweep workers included) and calls
``on_epoch_end(model, epoch, batches)`` after evaluation, with the model in eval mode and ``batches``
the first ``train.probe_samples`` test samples; the returned ``{metric: value}`` are stored with the
epoch's metrics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from normact.probes.activations import ChannelSkewness, Mean, NonZeroRatio, Saturation, SecondMoment, Sparsity
from normact.probes.base import Probe, attach, quiet_forward
from normact.probes.depth import PLAIN_LAYERS, predict_second_moments
from normact.probes.residual import ResidualDelta
from normact.probes.score import convergence_score
from normact.probes.select import WEIGHT_LAYERS, Where, is_activation
from normact.probes.stats import to_host
from normact.probes.weights import coherence, weight_means, weight_records

__all__ = [
    "ConvergenceScore",
    "MuFanIn",
    "ProbePass",
    "StepSignals",
    "WeightCoherence",
    "WeightMeans",
    "build_probe_callbacks",
    "list_probe_callbacks",
    "register_probe_callback",
]

Batches = Any  # re-iterable (x, y) batches, normact.train.Batches


class ConvergenceScore:
    """ANAct's convergence Score (eq. 22) each epoch, with ``rho`` and ``rho'`` of every activation call.

    The probe batches are concatenated into one batch (the Score is a statistic of one forward pass),
    so its cost is one forward pass over ``train.probe_samples`` samples. Returns ``score``,
    ``rho/<layer>`` and ``rho_prime/<layer>`` (see :func:`normact.probes.convergence_score`).

    Args:
        where: the activation modules (default: every activation module).
    """

    def __init__(self, where: Where | None = None) -> None:
        self.where = where

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: Batches) -> dict[str, float]:
        x = torch.cat([xb for xb, _ in batches])
        score, records = convergence_score(model, x, self.where)
        out = {"score": score}
        for r in records:
            out[f"rho/{r['layer']}"] = r["rho"]
            out[f"rho_prime/{r['layer']}"] = r["rho_prime"]
        return out

    def __repr__(self) -> str:
        return f"ConvergenceScore(where={self.where!r})"


class WeightMeans:
    """The mean of every weight matrix each epoch, as ``weight_mean/<parameter>`` (ANAct, Fig. 4)."""

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: Batches) -> dict[str, float]:
        return {f"weight_mean/{name}": value for name, value in weight_means(model).items()}

    def __repr__(self) -> str:
        return "WeightMeans()"


class ProbePass:
    """A hook probe run over the probe batches each epoch: ``{<probe name>/<layer>: value}``.

    Args:
        probe: the probe (``SecondMoment()``, ``Saturation(where=nn.Tanh)``, ...); its state is reset
            every epoch.
    """

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: Batches) -> dict[str, float]:
        with attach(model, self.probe) as p:
            for x, _ in batches:
                quiet_forward(model, x)
        return {f"{r['metric']}/{r['layer']}": r["value"] for r in p.records()}

    def __repr__(self) -> str:
        return f"ProbePass({self.probe!r})"


def _probe_pass(probe: type[Probe]) -> Callable[..., ProbePass]:
    def factory(**kwargs: Any) -> ProbePass:
        return ProbePass(probe(**kwargs))

    factory.__name__ = f"{probe.__name__}Pass"
    return factory


class WeightCoherence:
    """The coherence of every filter bank each epoch, as ``coherence/<parameter>`` (CReLU/NormProp, Fig. 3).

    Coherence is ``max_{i != j} |W_i . W_j| / (||W_i|| ||W_j||)`` over the flattened filters
    (:func:`normact.probes.weights.coherence`); near 0 means near-orthogonal filters, the assumption of
    NormProp's Canonical Error Bound.

    Args:
        where: a regular expression on parameter names, matched with ``re.search`` (default: every
            parameter with two or more dimensions and at least two filters).
    """

    def __init__(self, where: str | None = None) -> None:
        self.where = where
        self._pattern = re.compile(where) if where is not None else None

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: Batches) -> dict[str, float]:
        out = {}
        for name, p in model.named_parameters():
            if p.dim() < 2 or p.shape[0] < 2 or (self._pattern and not self._pattern.search(name)):
                continue
            out[f"coherence/{name}"] = coherence(p)
        if not out:
            raise ValueError(f"coherence: no weight with two or more filters matches where={self.where!r}")
        return out

    def __repr__(self) -> str:
        return f"WeightCoherence(where={self.where!r})"


class MuFanIn:
    """``|E W| * N_{l-1}`` of every weight each epoch, as ``mu_fan_in/<parameter>``.

    Redefining the Self-Normalization Property, Proposition 3.2 and appendix A.5: multiplying by W
    scales the mean of its input by at most mu N_{l-1}, so the mean is normalized while it stays below
    1 (see :func:`normact.probes.weight_records`, which this reads).
    """

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: Batches) -> dict[str, float]:
        rows = weight_records(model, with_coherence=False)
        return {f"mu_fan_in/{r['name']}": r["mu_fan_in"] for r in rows}

    def __repr__(self) -> str:
        return "MuFanIn()"


class StepSignals:
    """Per-iteration second moments of the pre-activations and weight-gradient norms (a step callback).

    Redefining the Self-Normalization Property, section 6.1 (Fig. 4): every ``every`` training steps
    (steps 1, 1 + every, ...), after the step's backward pass and before the optimiser step,

    - ``step_second_moment/<layer>@<step>``: E[h^2] at the output of each selected weight layer, from
      one extra forward pass of the step's training batch without gradient (eval mode);
    - ``step_grad_norm/<layer>@<step>``: ``||dL/dW||_F`` of the layer's weight as the optimiser will
      use it (after clipping; for a parametrized weight, the gradient of the stored original);
    - with ``theory=True``, at the first recorded step: ``second_moment_theory/<layer>``, the mean-field
      prediction of E[h^2] (:func:`normact.probes.predict_second_moments` from the batch's own second
      moment per input position and the actual weights) for the layers of the model's longest plain
      prefix (its leaves up to the first one the theory cannot follow, e.g. a pooling layer).

    The values are kept until the epoch ends and returned by ``on_epoch_end``.

    Args:
        every: steps between two measurements.
        where: the weight layers (default: every Linear and convolution layer).
        theory: also store the prediction at the first recorded step.
    """

    def __init__(self, every: int = 10, where: Where | None = None, theory: bool = False) -> None:
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"step_signals: every must be a positive int, got {every!r}")
        self.every, self.where, self.theory = every, where, theory
        self._pending: dict[str, float] = {}
        self._predicted = False

    def on_train_step(self, model: nn.Module, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        if (step - 1) % self.every:
            return
        probe = SecondMoment(where=self.where or WEIGHT_LAYERS, tap="output")
        with attach(model, probe):
            quiet_forward(model, x)
        layers = dict(probe.layers)
        norms = {name: torch.linalg.vector_norm(g) for name, g in _weight_grads(layers).items()}
        for name, norm in to_host(norms).items():
            self._pending[f"step_grad_norm/{name}@{step}"] = float(norm)
        for name, r in probe.results().items():
            self._pending[f"step_second_moment/{name}@{step}"] = r["value"]
        if self.theory and not self._predicted:
            self._predicted = True
            self._pending.update(_theory_second_moments(model, x, set(layers)))

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: Batches) -> dict[str, float]:
        out, self._pending = self._pending, {}
        return out

    def __repr__(self) -> str:
        return f"StepSignals(every={self.every}, where={self.where!r}, theory={self.theory})"


def _weight_grads(layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """The gradient of each layer's stored weight (a parametrized weight's original), when it has one."""
    out = {}
    for name, module in layers.items():
        if parametrize.is_parametrized(module, "weight"):
            weight = module.parametrizations.weight.original
        else:
            weight = module.weight
        if weight.grad is not None:
            out[name] = weight.grad
    return out


def _theory_second_moments(model: nn.Module, x: torch.Tensor, wanted: set[str]) -> dict[str, float]:
    """Mean-field E[h^2] of the weight layers in ``wanted`` within the model's longest plain prefix."""
    prefix = []
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue
        if not isinstance(module, PLAIN_LAYERS) and not is_activation(module):
            break
        prefix.append((name, module))
    names = [n for n, m in prefix if isinstance(m, WEIGHT_LAYERS)]
    if not names:
        return {}
    xd = x.detach().to(torch.float64)
    q0 = (xd.square().mean(dim=(0, 1)) if xd.dim() > 2 else xd.square().mean()).cpu().numpy()
    records = predict_second_moments([m for _, m in prefix], q0, tuple(x.shape[1:]))
    return {
        f"second_moment_theory/{name}": r["predicted"]
        for name, r in zip(names, records, strict=True)
        if name in wanted
    }


_CALLBACKS: dict[str, Callable[..., Any]] = {
    "score": ConvergenceScore,
    "weight_means": WeightMeans,
    "second_moment": _probe_pass(SecondMoment),
    "mean": _probe_pass(Mean),
    "channel_skewness": _probe_pass(ChannelSkewness),
    "saturation": _probe_pass(Saturation),
    "sparsity": _probe_pass(Sparsity),
    "nonzero_ratio": _probe_pass(NonZeroRatio),
    "residual_delta": _probe_pass(ResidualDelta),
    "coherence": WeightCoherence,
    "mu_fan_in": MuFanIn,
    "step_signals": StepSignals,
}


def list_probe_callbacks() -> list[str]:
    """The names ``train.probes`` accepts."""
    return sorted(_CALLBACKS)


def register_probe_callback(name: str, factory: Callable[..., Any]) -> None:
    """Register ``factory(**kwargs) -> callback`` under ``name``; an existing name is an error.

    Register at import time of a module that the training process imports (sweep workers are fresh
    processes), e.g. the module that defines the model.
    """
    if name in _CALLBACKS:
        raise ValueError(f"probe callback {name!r} is already registered as {_CALLBACKS[name]!r}")
    if not callable(factory):
        raise TypeError(f"register a factory returning a callback, not {factory!r}")
    _CALLBACKS[name] = factory


def build_probe_callbacks(specs: Sequence[str | Mapping[str, Any]]) -> list[Any]:
    """Callbacks from ``train.probes`` entries: a name, or ``{name: ..., **kwargs}``."""
    out = []
    for i, spec in enumerate(specs):
        kwargs = dict(spec) if isinstance(spec, Mapping) else {"name": spec}
        name = kwargs.pop("name", None)
        if name not in _CALLBACKS:
            raise ValueError(
                f"train.probes[{i}]: unknown probe callback {name!r}; choose from {list_probe_callbacks()}"
            )
        try:
            out.append(_CALLBACKS[name](**kwargs))
        except TypeError as err:
            raise ValueError(f"train.probes[{i}] ({name}): {err}") from None
    return out
