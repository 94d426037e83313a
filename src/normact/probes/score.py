"""The convergence Score of ANAct (eq. 22), measured on a model's actual activations."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from normact.probes.base import quiet_forward
from normact.probes.select import (
    ELEMENTWISE_ACTIVATIONS,
    Where,
    activation_modules,
    is_activation,
    select_modules,
)
from normact.probes.stats import to_host

__all__ = ["convergence_score", "elementwise_derivative"]


def elementwise_derivative(module: nn.Module, x: Tensor) -> Tensor:
    """``d module(x) / dx`` elementwise, without side effects on the module.

    Uses the module's own ``derivative(input)`` when it has one (normact's activations, which know
    their running state); for torch's stateless activations, autograd on a detached copy of ``x``
    through ``module.forward`` (which bypasses hooks). Other modules raise TypeError.
    """
    own = getattr(module, "derivative", None)
    if callable(own):
        with torch.no_grad():
            return own(x)
    if not isinstance(module, ELEMENTWISE_ACTIVATIONS):
        raise TypeError(
            f"{type(module).__name__} is not an elementwise activation: give it a derivative(input) method "
            f"or use one of {[c.__name__ for c in ELEMENTWISE_ACTIVATIONS]}"
        )
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        y = module.forward(leaf.clone())  # clone: an in-place activation must not write into the leaf
        (grad,) = torch.autograd.grad(y.sum(), leaf)
    return grad


def convergence_score(
    model: nn.Module, batch: Any, where: Where | None = None
) -> tuple[float, list[dict[str, Any]]]:
    """ANAct's convergence Score, ``sum_i (|ln rho_i| + |ln rho'_i|) / 2`` over activation layers (eq. 22).

    For each call of an activation layer (its normalization included), on the inputs the model actually
    feeds it: ``rho_i = Var[out] / Var[in]`` and ``rho'_i = E[(d out / d in)^2]``, variances and means
    over every element (population variance, float64). A module called twice in one forward counts as
    two layers (``name#1``, ``name#2``).

    One forward pass ``model(batch)`` runs in the model's current mode under ``torch.no_grad()``, with
    temporary hooks; afterwards the hooks are gone, every buffer (BatchNorm and activation running
    statistics) holds its value from before, and the global RNG states are as before. Parameters,
    ``requires_grad`` flags and the training mode are not touched. Hooks already on the model fire as
    usual.

    Args:
        model: the network.
        batch: its input, passed as ``model(batch)``.
        where: the activation modules to score; default :func:`activation_modules` (torch's elementwise
            activations and every module with a ``derivative`` method).

    Returns:
        ``(score, records)``, one record per activation call with ``layer, module, var_in, var_out, rho,
        rho_prime, term``. A layer with ``rho' = 0`` (all units dead) has an infinite term.
    """
    what = "convergence_score"
    layers = activation_modules(model) if where is None else select_modules(model, where, what)
    if not layers:
        raise ValueError(f"{what}: the model has no activation module; pass where=")
    for name, module in layers:
        if not is_activation(module):
            raise TypeError(f"{what}: {name!r} ({type(module).__name__}) has no elementwise derivative")

    saved = {name: b.detach().clone() for name, b in model.named_buffers()}
    inputs: dict[str, Tensor] = {}
    calls: list[tuple[str, nn.Module, dict[str, Tensor]]] = []

    def before(name: str, module: nn.Module, args: tuple) -> None:
        if not args or not isinstance(args[0], Tensor):
            raise TypeError(f"convergence_score: {name!r} was called without a tensor input")
        x = args[0].detach()
        inputs[name] = x.clone() if getattr(module, "inplace", False) else x

    def after(name: str, module: nn.Module, out: Tensor) -> None:
        x = inputs.pop(name)
        var_in = torch.var(x.to(torch.float64), correction=0)
        var_out = torch.var(out.detach().to(torch.float64), correction=0)
        rho_prime = elementwise_derivative(module, x).to(torch.float64).square().mean()
        calls.append((name, module, {"var_in": var_in, "var_out": var_out, "rho_prime": rho_prime}))

    handles = []
    try:
        for name, module in layers:
            handles.append(module.register_forward_pre_hook(lambda m, a, n=name: before(n, m, a)))
            handles.append(module.register_forward_hook(lambda m, a, o, n=name: after(n, m, o)))
        quiet_forward(model, batch)
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(saved[name])

    if not calls:
        raise ValueError("convergence_score: no selected activation ran during model(batch)")
    host = to_host({str(i): stats for i, (_, _, stats) in enumerate(calls)})
    counts = Counter(name for name, _, _ in calls)
    seen: Counter[str] = Counter()
    records = []
    for i, (name, module, _) in enumerate(calls):
        seen[name] += 1
        stats = host[str(i)]
        var_in, var_out, rho_prime = (float(stats[k]) for k in ("var_in", "var_out", "rho_prime"))
        if var_in == 0.0:
            raise ValueError(f"{what}: the input of {name!r} is constant on this batch; rho is undefined")
        rho = var_out / var_in
        with np.errstate(divide="ignore"):
            term = (abs(float(np.log(rho))) + abs(float(np.log(rho_prime)))) / 2
        layer = f"{name}#{seen[name]}" if counts[name] > 1 else name
        records.append(
            {
                "layer": layer,
                "module": type(module).__name__,
                "var_in": var_in,
                "var_out": var_out,
                "rho": rho,
                "rho_prime": rho_prime,
                "term": term,
            }
        )
    return math.fsum(r["term"] for r in records), records
