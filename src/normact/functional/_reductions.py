"""Row sums and row dot products in memory order, accumulated in float32 or wider."""

from __future__ import annotations

import torch
from torch import Tensor

_CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}


def memory_format(x: Tensor) -> torch.memory_format:
    """channels-last when ``x`` is laid out so (and not also contiguous), else contiguous."""
    fmt = _CHANNELS_LAST.get(x.dim())
    if fmt is not None and not x.is_contiguous() and x.is_contiguous(memory_format=fmt):
        return fmt
    return torch.contiguous_format


def rows(t: Tensor, groups: int) -> Tensor:
    """``t`` as ``(groups, -1)`` in memory order: a view for contiguous and channels-last tensors."""
    if memory_format(t) is not torch.contiguous_format:
        t = t.permute(0, *range(2, t.dim()), 1)
    return t.reshape(groups, -1)


def stat_dtype(x: Tensor) -> torch.dtype:
    """The accumulation dtype: float32 for half precision inputs, the input's own otherwise."""
    return torch.promote_types(x.dtype, torch.float32)


def row_sum(t: Tensor, groups: int) -> Tensor:
    """Sum of each of ``groups`` equal, consecutive (in dim 0) slices of ``t``."""
    return rows(t, groups).sum(1, dtype=stat_dtype(t))


def row_dot(a: Tensor, b: Tensor, groups: int) -> Tensor:
    """Dot product of each slice pair, as one batched matrix product (no elementwise temporary)."""
    dtype = stat_dtype(a)
    a, b = rows(a, groups).to(dtype), rows(b, groups).to(dtype)
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(groups)
