"""How much a residual block changes its input: the Delta of the CReLU/NormProp paper."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from normact.probes.base import Probe, Result, accumulate
from normact.probes.select import Where
from normact.probes.stats import widen

__all__ = ["ResidualDelta"]


class ResidualDelta(Probe):
    """Mean over samples and positions of the channel L2 norm of ``x_out - x_in`` of a residual block.

    CReLU/NormProp paper, sec. 3 (the Delta of Fig. 2):
    ``Delta = 1/(w h) sum_{i,j} ||x_l(:, i, j) - x_{l+1}(:, i, j)||_2``, averaged over the evaluation set.
    Channels lie along dim 1; a ``(N, D)`` block gives the mean of ``||out - in||_2`` over samples.

    Args:
        where: the residual blocks (required: no default can tell which modules are blocks).
        shortcut: name of a child module of each block whose output stands in for ``x_in`` when present
            and not None (e.g. ``"shortcut"`` or ``"downsample"``), so that blocks that change shape are
            compared with their projected input. Without it, a block whose output shape differs from its
            input's raises an error.
    """

    metric = "residual_delta"

    def __init__(self, where: Where, shortcut: str | None = None, name: str | None = None) -> None:
        if where is None:
            raise ValueError("ResidualDelta needs where=: the residual blocks (types, a pattern or a list)")
        super().__init__(where, name)
        self.shortcut = shortcut
        self._inputs: dict[str, Tensor] = {}

    def _hook(self, name: str, block: nn.Module) -> list[RemovableHandle]:
        child = getattr(block, self.shortcut, None) if self.shortcut else None
        # The input is copied: a block may overwrite it in place (e.g. an in-place ReLU on x).
        if isinstance(child, nn.Module):
            stash = child.register_forward_hook(lambda m, args, out: self._stash(name, out, "shortcut"))
        else:
            stash = block.register_forward_pre_hook(
                lambda m, args: self._stash(name, args[0] if args else None, "input")
            )
        return [stash, block.register_forward_hook(lambda m, args, out: self._observe(name, out))]

    def _stash(self, name: str, x: Any, what: str) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self.name}: the {what} of block {name!r} is {type(x).__name__}, not a tensor")
        self._inputs[name] = x.detach().clone()

    def _observe(self, name: str, out: Any) -> None:
        x_in = self._inputs.pop(name, None)
        if x_in is None:
            raise RuntimeError(f"{self.name}: block {name!r} ran without its input being recorded")
        if not isinstance(out, Tensor) or out.shape != x_in.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"{self.name}: block {name!r} maps {tuple(x_in.shape)} to {got}; Delta needs equal shapes "
                "(pass shortcut='<child name>' to compare with the projected input, or leave the block out)"
            )
        if out.dim() < 2:
            raise ValueError(f"{self.name}: block {name!r} output is {out.dim()}-D; expected (N, C, ...)")
        norms = torch.linalg.vector_norm(widen(out.detach()) - widen(x_in), dim=1)  # (N, *spatial)
        state = self._state[name]
        state["calls"] = state.get("calls", 0) + 1
        accumulate(state, "norm_sum", norms.sum().to(torch.float64))
        state["count"] = state.get("count", 0) + norms.numel()

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        delta = float(host["norm_sum"] / host["count"])
        return {"value": delta, "count": host["count"], "calls": host["calls"]}

    def reset(self) -> None:
        super().reset()
        self._inputs = {}
