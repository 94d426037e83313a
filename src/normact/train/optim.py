"""Optimisers with weight-decay groups, learning-rate schedules with warm-up, gradient clipping."""

from __future__ import annotations

import bisect
import fnmatch
import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from normact.train.config import OptimConfig, ScheduleConfig

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*d, SyncBatchNorm, InstanceNorm*d
    nn.GroupNorm,
    nn.LayerNorm,
    nn.RMSNorm,
    nn.LocalResponseNorm,
)
_NORM_SELECTORS = ("norm", "norm.weight", "norm.bias")


def _selects(selector: str, name: str, module: nn.Module, param_name: str) -> bool:
    if selector in _NORM_SELECTORS:
        if not isinstance(module, NORM_LAYERS):
            return False
        return selector == "norm" or selector == f"norm.{param_name}"
    if selector == "bias":
        return param_name == "bias"
    return fnmatch.fnmatchcase(name, selector)


def param_groups(model: nn.Module, weight_decay: float, groups: dict[str, float] | None = None) -> list[dict]:
    """Split the trainable parameters of ``model`` into groups by weight decay.

    Args:
        model: the module whose parameters are optimised.
        weight_decay: decay of every parameter no selector matches.
        groups: ``{selector: decay}``; the first selector (in order) that matches a parameter sets its
            decay. Selectors: ``"norm"`` (all parameters of normalization layers, see ``NORM_LAYERS``),
            ``"norm.weight"`` / ``"norm.bias"`` (their scale / shift), ``"bias"`` (every parameter
            called ``bias``), or a glob on the qualified parameter name such as ``"*.alpha"``.

    Returns:
        Parameter groups for a ``torch.optim`` optimiser, one per distinct decay, each with a ``names``
        entry listing its parameters. A selector that matches nothing is an error.
    """
    groups = dict(groups or {})
    decay_of: dict[str, float] = {}
    params: dict[str, nn.Parameter] = {}
    used: set[str] = set()
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            if id(p) in seen:  # shared (tied) parameter: optimised once, its first owner decides
                continue
            seen.add(id(p))
            params[name] = p
            decay_of[name] = weight_decay
            for selector, decay in groups.items():
                if _selects(selector, name, module, p_name):
                    decay_of[name] = decay
                    used.add(selector)
                    break
    unused = [s for s in groups if s not in used]
    if unused:
        raise ValueError(
            f"weight_decay_groups selectors {unused} match no trainable parameter; selectors are "
            f"{list(_NORM_SELECTORS)}, 'bias' or a glob on names such as {list(params)[:4]}"
        )
    by_decay: dict[float, dict] = {}
    for name, p in params.items():
        group = by_decay.setdefault(
            decay_of[name], {"params": [], "names": [], "weight_decay": decay_of[name]}
        )
        group["params"].append(p)
        group["names"].append(name)
    return list(by_decay.values())


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser named in ``cfg`` over ``model``'s parameters, grouped by weight decay."""
    groups = param_groups(model, cfg.weight_decay, cfg.weight_decay_groups)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    raise ValueError(f"unknown optimizer {cfg.name!r}; choose from ['sgd', 'adam', 'adamw']")


def lr_factor(
    cfg: ScheduleConfig, base_lr: float, epochs: int, steps_per_epoch: int
) -> Callable[[int], float]:
    """Multiplier of the base learning rate at optimisation step ``s`` (0-based), for ``LambdaLR``.

    Linear warm-up from ``warmup_start_factor`` to 1 over the first ``warmup_epochs`` epochs (or
    ``warmup_steps`` steps when set), then: ``constant``; ``step`` (times ``gamma`` every ``step_size``
    epochs); ``multistep`` (times ``gamma`` at each epoch in ``milestones``); ``cosine`` (half a cosine
    from 1 to ``min_lr / base_lr`` over the steps after warm-up, evaluated per step); ``inverse_sqrt``
    (``sqrt(w / s)`` at step ``s >= w``, ``w`` the warm-up steps or 1 without warm-up: fairseq's
    ``inverse_sqrt``). Step and multistep decay at epoch boundaries like
    ``torch.optim.lr_scheduler.StepLR`` / ``MultiStepLR`` stepped once per epoch.
    """
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError(f"need at least one epoch and one step per epoch, got {epochs}, {steps_per_epoch}")
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else round(cfg.warmup_epochs * steps_per_epoch)
    total = epochs * steps_per_epoch
    milestones = sorted(cfg.milestones)
    min_factor = cfg.min_lr / base_lr if base_lr > 0 else 0.0

    def factor(step: int) -> float:
        if step < warmup:
            return cfg.warmup_start_factor + (1.0 - cfg.warmup_start_factor) * step / warmup
        epoch = step // steps_per_epoch
        if cfg.name == "constant":
            return 1.0
        if cfg.name == "step":
            return cfg.gamma ** (epoch // cfg.step_size)
        if cfg.name == "multistep":
            return cfg.gamma ** bisect.bisect_right(milestones, epoch)
        if cfg.name == "cosine":
            t = (step - warmup) / max(1, total - warmup)
            return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
        if cfg.name == "inverse_sqrt":
            return math.sqrt(max(warmup, 1) / max(step, warmup, 1))
        raise ValueError(
            f"unknown schedule {cfg.name!r}; choose from ['constant', 'step', 'multistep', 'cosine', "
            "'inverse_sqrt']"
        )

    factor(warmup)  # reject an unknown name now rather than after warm-up
    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, base_lr: float, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` following ``lr_factor``; call ``step()`` after every optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, base_lr, epochs, steps_per_epoch))


def clip_gradients(params: Iterable[torch.Tensor], value: float | None, norm: float | None) -> None:
    """Clamp gradient entries to ``[-value, value]``, then rescale to total 2-norm at most ``norm``."""
    if value is None and norm is None:
        return
    params = [p for p in params if p.grad is not None]
    if value is not None:
        nn.utils.clip_grad_value_(params, value)
    if norm is not None:
        nn.utils.clip_grad_norm_(params, norm)
