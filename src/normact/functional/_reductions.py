"""Row sums and row dot products in memory order (float32 within blocks, float64 across), row views."""

from __future__ import annotations

import torch
from torch import Tensor

_CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}
# Elements summed in the input's precision before the partial sums are added in float64.
_BLOCK = 4096


def memory_format(x: Tensor) -> torch.memory_format:
    """channels-last when ``x`` is laid out so (and not also contiguous), else contiguous."""
    fmt = _CHANNELS_LAST.get(x.dim())
    if fmt is not None and not x.is_contiguous() and x.is_contiguous(memory_format=fmt):
        return fmt
    return torch.contiguous_format


def check_dtype(x: Tensor, layer: str) -> None:
    """A clear error for inputs the layers cannot take (integers, booleans, complex numbers)."""
    if not x.is_floating_point():
        raise TypeError(
            f"{layer}: input dtype {x.dtype} (on {x.device.type}) is not supported; the layers take "
            "floating-point inputs: float32, float64, bfloat16 or float16"
        )


def unrows(t: Tensor, like: Tensor) -> Tensor:
    """The inverse of :func:`rows`: ``(groups, -1)`` back to the shape and memory format of ``like``."""
    if memory_format(like) is not torch.contiguous_format:
        shape = (like.shape[0], *like.shape[2:], like.shape[1])
        return t.reshape(shape).permute(0, like.dim() - 1, *range(1, like.dim() - 1))
    return t.reshape(like.shape)


def rows(t: Tensor, groups: int) -> Tensor:
    """``t`` as ``(groups, -1)`` in memory order: a view for contiguous and channels-last tensors."""
    if memory_format(t) is not torch.contiguous_format:
        t = t.permute(0, *range(2, t.dim()), 1)
    return t.reshape(groups, -1)


def stat_dtype(x: Tensor) -> torch.dtype:
    """float64 for statistics (float32 on devices without it)."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def _split(t: Tensor) -> tuple[Tensor, Tensor]:
    """``(G, M)`` as whole blocks ``(G, M // B, B)`` and the remainder ``(G, M % B)``."""
    whole = t.shape[1] // _BLOCK * _BLOCK
    return t[:, :whole].reshape(t.shape[0], -1, _BLOCK), t[:, whole:]


def _work_dtype(t: Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def row_sum(t: Tensor, groups: int) -> Tensor:
    """Sum of each of ``groups`` equal slices of ``t`` (consecutive along dim 0)."""
    head, tail = _split(rows(t, groups))
    dtype, out = _work_dtype(t), stat_dtype(t)
    return head.sum(-1, dtype=dtype).sum(-1, dtype=out) + tail.sum(-1, dtype=out)


def row_dot(a: Tensor, b: Tensor, groups: int) -> Tensor:
    """Dot product of each slice pair, as batched matrix products (no elementwise temporary)."""
    dtype, out = _work_dtype(a), stat_dtype(a)
    (ha, ta), (hb, tb) = _split(rows(a, groups).to(dtype)), _split(rows(b, groups).to(dtype))
    head = torch.bmm(ha.reshape(-1, 1, _BLOCK), hb.reshape(-1, _BLOCK, 1)).reshape(groups, -1)
    tail = torch.bmm(ta.unsqueeze(1), tb.unsqueeze(2)).reshape(groups)
    return head.sum(-1, dtype=out) + tail.to(out)
