"""Streaming statistics of the tensors entering or leaving chosen layers.

Every probe here accumulates per call on the device (sums in the tensor's precision, at least float32,
with torch's pairwise summation; totals across calls in float64; skewness in float64 throughout) and
gives the value over everything it has seen, which equals the value of the whole evaluation set
computed at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from normact.probes.base import LayerProbe, Result, accumulate
from normact.probes.select import Where
from normact.probes.stats import (
    RunningMoments,
    Series,
    reduce_dims,
    sum_of_squares,
    summarize_moments,
    widen,
)

__all__ = [
    "ChannelSkewness",
    "Mean",
    "NonZeroRatio",
    "Saturation",
    "SecondMoment",
    "Sparsity",
    "asymptote_of",
]


class SecondMoment(LayerProbe):
    """Second moment E[h^2] of each selected layer's tensor, over all its elements, with a per-call series.

    The quantity q_l that self-normalization tracks through depth (self-normalization paper, eq. 2 and
    Prop. 3.1). Defaults: the inputs of the model's activation modules (``tap="input"``), i.e. the
    pre-activations; for the outputs of the weight layers use ``where=nn.Linear, tap="output"``.

    Result per layer: ``value`` (E[h^2] over every call), ``series`` (E[h^2] of each call), ``count``
    (elements seen), ``calls``. Each call's sum of h^2 (:func:`~normact.probes.stats.sum_of_squares`,
    ~1e-8 relative) stays on the device; the totals are formed in float64 when read.
    """

    metric = "second_moment"

    def __init__(self, where: Where | None = None, tap: str = "input", name: str | None = None) -> None:
        super().__init__(where, tap, name)

    def _sum(self, x: Tensor) -> Tensor:
        """The per-call sum whose average over the elements is the probe's value: sum(h^2)."""
        return sum_of_squares(x)

    def _observe(self, name: str, module: nn.Module, state: dict[str, Any], x: Tensor) -> None:
        state.setdefault("sums", Series()).append(self._sum(x))
        state.setdefault("counts", []).append(x.numel())

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        counts = np.asarray(host["counts"], dtype=np.float64)
        sums = host["sums"]
        return {
            "value": float(sums.sum() / counts.sum()),
            "count": int(counts.sum()),
            "calls": host["calls"],
            "series": sums / counts,
        }


class Mean(SecondMoment):
    """Mean E[h] of each selected layer's tensor, over all its elements, with a per-call series.

    Beside :class:`SecondMoment` on the same layers it gives the standard deviation,
    ``sqrt(E[h^2] - E[h]^2)`` (the CReLU paper's Table 1 prints the last ReLU's output as mean ± std).
    Same defaults, result and accumulation as :class:`SecondMoment` (sums in at least float32 on the
    device, totals in float64).
    """

    metric = "mean"

    def _sum(self, x: Tensor) -> Tensor:
        return widen(x).sum()


class ChannelSkewness(LayerProbe):
    """Mean over channels of |adjusted sample skewness| of each channel's values.

    Bounded-activation paper, sec. 4.1: ``k_{l,c} = sqrt(M (M - 1)) / (M - 2) * m3 / m2^(3/2)`` over the
    M values of channel c (all samples and positions), ``k_l = mean_c |k_{l,c}|``. Moments are merged
    across batches in float64 (:class:`RunningMoments`), so the result equals the whole-set value.
    Channels that are constant over the whole set have no skewness: they are reported as NaN in the
    per-channel array, left out of ``value`` and counted in ``constant_channels``.

    Default: the outputs of the model's activation modules; channels along ``channel_dim`` (1 for
    ``(N, C, ...)`` and ``(N, D)`` tensors).
    """

    metric = "channel_skewness"

    def __init__(
        self, where: Where | None = None, tap: str = "output", channel_dim: int = 1, name: str | None = None
    ) -> None:
        super().__init__(where, tap, name)
        self.channel_dim = channel_dim

    def _observe(self, name: str, module: nn.Module, state: dict[str, Any], x: Tensor) -> None:
        state.setdefault("moments", RunningMoments()).update(x, self.channel_dim)

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        m = host["moments"]
        stats = summarize_moments(m["count"], m)
        # A channel is constant when its spread is at float64 rounding level of its mean.
        constant = stats["var"] <= (64 * np.finfo(np.float64).eps * np.abs(stats["mean"])) ** 2
        skew = np.where(constant, np.nan, stats["skewness"])
        varying = skew[~constant]
        return {
            "value": float(np.abs(varying).mean()) if varying.size else float("nan"),
            "channels": int(skew.size),
            "constant_channels": int(constant.sum()),
            "count": stats["count"],
            "calls": host["calls"],
            "skewness": skew,
            "mean": stats["mean"],
            "var": stats["var"],
        }


def asymptote_of(module: nn.Module) -> float:
    """The largest |f(x)| of a bounded activation module: 1 for Tanh, Softsign and Sigmoid, the larger
    bound of Hardtanh, or the module's own ``asymptote`` attribute (e.g. 1.7159 for LeCun tanh)."""
    own = getattr(module, "asymptote", None)
    if own is not None:
        return float(own)
    if isinstance(module, (nn.Tanh, nn.Softsign, nn.Sigmoid)):
        return 1.0
    if isinstance(module, nn.Hardtanh):
        return max(abs(module.min_val), abs(module.max_val))
    raise ValueError(
        f"no known asymptote for {type(module).__name__}; select bounded activations (Tanh, Softsign, "
        "Sigmoid, Hardtanh, modules with an `asymptote` attribute) or pass asymptote="
    )


class Saturation(LayerProbe):
    """Mean of |y| / a over every output element of a bounded activation, a its asymptote.

    Bounded-activation paper, sec. 3.1 (the layer saturation ``t_l``): 0 when outputs gather at 0,
    1 when they all sit at the asymptotes. ``asymptote=None`` reads each module's asymptote
    (:func:`asymptote_of`). Default: the outputs of the model's activation modules.
    """

    metric = "saturation"

    def __init__(
        self,
        where: Where | None = None,
        asymptote: float | None = None,
        tap: str = "output",
        name: str | None = None,
    ) -> None:
        if asymptote is not None and not asymptote > 0:
            raise ValueError(f"asymptote must be positive, got {asymptote}")
        super().__init__(where, tap, name)
        self.asymptote = asymptote

    def _setup(self) -> None:
        self.asymptotes = {}
        for name, module in self.layers:
            try:
                self.asymptotes[name] = self.asymptote or asymptote_of(module)
            except ValueError as err:
                raise ValueError(f"{self.name}: layer {name!r}: {err}") from None

    def _observe(self, name: str, module: nn.Module, state: dict[str, Any], x: Tensor) -> None:
        accumulate(state, "abs_sum", widen(x).abs().sum().to(torch.float64))
        state["count"] = state.get("count", 0) + x.numel()

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        a = self.asymptotes[name]
        return {
            "value": float(host["abs_sum"] / (host["count"] * a)),
            "asymptote": a,
            "count": host["count"],
            "calls": host["calls"],
        }


class Sparsity(LayerProbe):
    """``1 - mean_i |g_i| / max_c``, with max_c the largest |g| of g_i's channel over the whole set.

    Bounded-activation paper, sec. 5.2 (``s_l = 1 - t_l`` with per-unit maxima), measured on block
    outputs: after the activation in the Convention order, after BN in the Swap order (pass those
    modules as ``where``; default: the outputs of the activation modules). Exact in one pass: the mean
    is ``sum_c S_c / max_c / N`` with S_c each channel's sum of |g|, and both S_c and max_c stream.
    An all-zero channel counts as fully sparse (its terms are 0).
    """

    metric = "sparsity"

    def __init__(
        self, where: Where | None = None, tap: str = "output", channel_dim: int = 1, name: str | None = None
    ) -> None:
        super().__init__(where, tap, name)
        self.channel_dim = channel_dim

    def _observe(self, name: str, module: nn.Module, state: dict[str, Any], x: Tensor) -> None:
        dims = reduce_dims(x.dim(), self.channel_dim)
        a = widen(x).abs()
        accumulate(state, "abs_sum", a.sum(dims).to(torch.float64))
        peak = a.amax(dims)
        state["abs_max"] = peak if "abs_max" not in state else torch.maximum(state["abs_max"], peak)
        state["count"] = state.get("count", 0) + math.prod(x.shape[d] for d in dims)

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        sums, peaks = host["abs_sum"], host["abs_max"]
        ratios = np.divide(sums, peaks, out=np.zeros_like(sums), where=peaks > 0)
        return {
            "value": float(1.0 - ratios.sum() / (host["count"] * sums.size)),
            "channels": int(sums.size),
            "count": host["count"] * int(sums.size),
            "calls": host["calls"],
            "channel_max": peaks,
        }


class NonZeroRatio(LayerProbe):
    """Fraction of non-zero entries of each selected layer's output (CReLU/NormProp paper, Table 1 NZR).

    Default: the outputs of the activation modules; the paper's NZR is that of the last ReLU.
    """

    metric = "nonzero_ratio"

    def _observe(self, name: str, module: nn.Module, state: dict[str, Any], x: Tensor) -> None:
        accumulate(state, "nonzero", torch.count_nonzero(x))
        state["count"] = state.get("count", 0) + x.numel()

    def _summarize(self, name: str, host: dict[str, Any]) -> Result:
        ratio = float(host["nonzero"] / host["count"])
        return {"value": ratio, "count": host["count"], "calls": host["calls"]}
