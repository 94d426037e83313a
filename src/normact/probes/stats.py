"""Streaming statistics that stay on the tensors' device until they are read.

Moments are merged with the pairwise update of Chan, Golub & LeVeque (1979) extended to the third
central moment by Pébay (2008, Sandia report SAND2008-6212, eq. 1.1-1.3): the statistics of a set
split into batches of any sizes equal those of the whole set up to float64 rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "RunningMoments",
    "Series",
    "reduce_dims",
    "skewness_from_moments",
    "sum_of_squares",
    "summarize_moments",
    "to_host",
    "widen",
]


def widen(x: Tensor) -> Tensor:
    """``x`` in at least float32 precision (half and bfloat16 are promoted)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


_DOT_CHUNK = 2048  # elements per dot product in sum_of_squares


def sum_of_squares(x: Tensor) -> Tensor:
    """``sum(x^2)`` as a 0-d tensor on ``x``'s device, in at least float32 precision, without a host sync.

    A large contiguous CPU tensor is read once, as dot products of chunks of 2048 elements (one batched
    matrix product, no temporary the size of ``x``) added in float64: about 3x faster than
    ``x.square().sum()``, which writes and reads a squared copy, with a relative error of ~1e-8 like
    torch's pairwise summation. Elsewhere (small, strided or non-CPU tensors) it is ``x.square().sum()``.
    """
    x = widen(x)
    if x.device.type != "cpu" or not x.is_contiguous() or x.numel() < 16 * _DOT_CHUNK:
        return x.square().sum()
    flat = x.view(-1)
    k = flat.numel() // _DOT_CHUNK
    rows = flat[: k * _DOT_CHUNK].view(k, 1, _DOT_CHUNK)
    tail = flat[k * _DOT_CHUNK :]
    with torch.autocast("cpu", enabled=False):  # not in autocast's lower precision
        return torch.bmm(rows, rows.transpose(1, 2)).sum(dtype=torch.float64) + torch.dot(tail, tail)


def reduce_dims(ndim: int, channel_dim: int | None) -> tuple[int, ...]:
    """The dimensions to reduce so that only ``channel_dim`` remains (all of them when it is None)."""
    if channel_dim is None:
        return tuple(range(ndim))
    if not -ndim <= channel_dim < ndim:
        raise ValueError(f"channel_dim={channel_dim} is out of range for a {ndim}-D tensor")
    keep = channel_dim % ndim
    return tuple(d for d in range(ndim) if d != keep)


def skewness_from_moments(count: int, m2, m3, bias: bool = False):
    """Sample skewness from the count and central sums ``m2 = sum (x - mean)^2``, ``m3 = sum (x - mean)^3``.

    ``bias=False`` gives the adjusted Fisher-Pearson coefficient
    ``G1 = sqrt(n (n - 1)) / (n - 2) * g1`` with ``g1 = (m3 / n) / (m2 / n)^(3/2)``, the definition of the
    bounded-activation paper (sec. 4.1) and of ``scipy.stats.skew(bias=False)``. Works on numpy arrays and
    tensors alike; a constant sample (``m2 = 0``) gives NaN.
    """
    if count < (2 if bias else 3):
        raise ValueError(f"skewness needs at least {2 if bias else 3} values per channel (got {count})")
    g1 = (m3 / count) / (m2 / count) ** 1.5
    return g1 if bias else g1 * (math.sqrt(count * (count - 1)) / (count - 2))


class RunningMoments:
    """Count, mean and central sums M2, M3 of a stream of tensors, per channel or over all elements.

    Accumulates in float64 on the device of the first tensor it sees; nothing is copied to the host
    until :meth:`values` is called. ``update(x, channel_dim=1)`` treats every slice ``x.select(1, c)``
    as samples of channel ``c``; ``channel_dim=None`` pools every element into one scalar statistic.
    The count is a Python int taken from shapes, so updates never synchronise with the device.

    Example::

        >>> m = RunningMoments()
        >>> for x in batches:
        ...     m.update(x, channel_dim=1)
        >>> m.values()["skewness"]  # one host transfer
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None
        self.m3: Tensor | None = None
        self.channel_dim: int | None = None

    def update(self, x: Tensor, channel_dim: int | None = None) -> RunningMoments:
        """Add the elements of ``x``; per channel along ``channel_dim``, or pooled when it is None."""
        if self.count and channel_dim != self.channel_dim:
            raise ValueError(f"channel_dim={channel_dim} differs from earlier updates' {self.channel_dim}")
        dims = reduce_dims(x.dim(), channel_dim)
        if not dims:
            raise ValueError(f"a {x.dim()}-D tensor with channel_dim={channel_dim} leaves nothing to average")
        n = math.prod(x.shape[d] for d in dims)
        if n == 0:
            return self
        xd = x.detach().to(torch.float64)
        mean = xd.mean(dims, keepdim=True)
        d = xd - mean
        d2 = d * d
        self.channel_dim = channel_dim
        return self._merge(n, mean, d2.sum(dims), (d2 * d).sum(dims))

    def merge(self, other: RunningMoments) -> RunningMoments:
        """Fold in another accumulator's statistics (Pébay 2008, eq. 1.1-1.3); returns self."""
        if not other.count:
            return self
        if self.count and other.channel_dim != self.channel_dim:
            raise ValueError(f"cannot merge channel_dim={other.channel_dim} into {self.channel_dim}")
        self.channel_dim = other.channel_dim
        return self._merge(other.count, other.mean, other.m2, other.m3)

    def _merge(self, nb: int, mean_b: Tensor, m2_b: Tensor, m3_b: Tensor) -> RunningMoments:
        mean_b = mean_b.reshape(m2_b.shape)
        na = self.count
        if na == 0:
            self.count, self.mean, self.m2, self.m3 = nb, mean_b.clone(), m2_b.clone(), m3_b.clone()
            return self
        if mean_b.shape != self.mean.shape:
            raise ValueError(f"shape {tuple(mean_b.shape)} cannot join {tuple(self.mean.shape)}")
        n = na + nb
        delta = mean_b.to(self.mean.device) - self.mean
        m2_a = self.m2
        self.m3 = (
            self.m3
            + m3_b.to(self.m3.device)
            + delta**3 * (na * nb * (na - nb) / n**2)
            + 3.0 * delta * (na * m2_b.to(m2_a.device) - nb * m2_a) / n
        )
        self.m2 = m2_a + m2_b.to(m2_a.device) + delta**2 * (na * nb / n)
        self.mean = self.mean + delta * (nb / n)
        self.count = n
        return self

    def state(self) -> dict[str, Tensor]:
        """The device tensors ``mean``, ``m2``, ``m3`` (for :func:`to_host`)."""
        if not self.count:
            raise ValueError("no data: update() was never called with a non-empty tensor")
        return {"mean": self.mean, "m2": self.m2, "m3": self.m3}

    def values(self) -> dict[str, np.ndarray | int]:
        """Count, mean, population and sample variance, second moment and skewness, in one transfer."""
        return summarize_moments(self.count, to_host(self.state()))


def summarize_moments(count: int, host: Mapping[str, np.ndarray]) -> dict[str, np.ndarray | int]:
    """Turn host copies of ``mean, m2, m3`` into named statistics (see :meth:`RunningMoments.values`)."""
    mean, m2, m3 = host["mean"], host["m2"], host["m3"]
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = skewness_from_moments(count, m2, m3) if count > 2 else np.full_like(mean, np.nan)
    return {
        "count": count,
        "mean": mean,
        "var": m2 / count,
        "var_unbiased": m2 / (count - 1) if count > 1 else np.full_like(mean, np.nan),
        "second_moment": m2 / count + mean**2,
        "skewness": skew,
    }


class Series:
    """Per-step device scalars appended without a host sync and stacked when read."""

    _chunk = 1024

    def __init__(self) -> None:
        self._done: list[Tensor] = []
        self._open: list[Tensor] = []

    def append(self, value: Tensor) -> None:
        """Record one value (a 0-d or 1-d tensor); every ``_chunk`` values are stacked on the device."""
        self._open.append(value.detach().reshape(-1))
        if len(self._open) == self._chunk:
            self._done.append(torch.cat(self._open))
            self._open = []

    def __len__(self) -> int:
        return sum(len(t) for t in self._done) + sum(len(t) for t in self._open)

    def tensor(self) -> Tensor:
        """All values so far as one 1-d device tensor."""
        parts = self._done + self._open
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def to_host(tree: Mapping[str, object]) -> dict[str, object]:
    """Copy every tensor in a nested mapping to numpy float64 in one device-to-host transfer.

    Non-tensor leaves are returned unchanged. Tensors on different devices are grouped per device
    (one transfer each).
    """
    leaves: list[tuple[tuple[str, ...], Tensor]] = []

    def walk(node: Mapping[str, object], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, (*path, key))
            elif isinstance(value, Tensor):
                leaves.append(((*path, key), value))

    walk(tree, ())
    arrays: dict[tuple[str, ...], np.ndarray] = {}
    for device in {t.device for _, t in leaves}:
        group = [(p, t) for p, t in leaves if t.device == device]
        flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for _, t in group]).cpu().numpy()
        offset = 0
        for path, t in group:
            arrays[path] = flat[offset : offset + t.numel()].reshape(t.shape)
            offset += t.numel()

    def build(node: Mapping[str, object], path: tuple[str, ...]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in node.items():
            if isinstance(value, Mapping):
                out[key] = build(value, (*path, key))
            else:
                out[key] = arrays.get((*path, key), value)
        return out

    return build(tree, ())
