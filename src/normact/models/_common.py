"""What the model builders share: activation recipes, ANAct's placement rules, widths, shapes and init.

ANAct (sections 3.2, 3.3 and 4) places normalized activations by three rules: a BN right before a
normalized activation has no affine transform; the top activations of a VGG stay unnormalized so that
a BN sits between the highest normalized activation and the classifier; in a residual network the
activation right after the addition stays unnormalized. :class:`ActFactory` knows what these rules
need: whether an activation is normalized, its unnormalized counterpart, and (for CReLU, which doubles
the channels) its channel-preserving counterpart.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from normact.init import SCHEMES, init_weights
from normact.nn.centralize import centralize_weights
from normact.nn.crelu import CReLU
from normact.nn.normalized import NormalizedActivation
from normact.registry import ActLayer, create_act, get_act_layer

__all__ = [
    "INITS",
    "SMALL_INPUT",
    "ActFactory",
    "ActSpec",
    "affine_for",
    "check_init",
    "check_width",
    "finish",
    "image_shape",
    "scale",
]

# Images whose smaller side is below this get the small-input stems (no early downsampling).
SMALL_INPUT = 128

ActSpec = str | ActLayer

# init= accepts a scheme of normact.init.init_weights or "torch" (PyTorch's default initialisation).
INITS = (*sorted(SCHEMES), "torch")


class ActFactory:
    """A recipe for new activation modules: ``create_act(act, **act_kwargs)`` at every call.

    Every placement gets its own module (the probes and the normalized activations' running
    statistics are per layer). The name, class or factory is checked when the recipe is made.

    Args:
        act: an activation name (``normact.list_acts()``), a module class or a factory.
        act_kwargs: keyword arguments of every module, e.g. ``{"momentum": 0.05}`` or ``{"eps": 0.017}``.
    """

    def __init__(self, act: str | ActLayer, act_kwargs: Mapping[str, Any] | None = None) -> None:
        if get_act_layer(act) is None:
            raise ValueError(f"act must name an activation (got {act!r})")
        self.act, self.act_kwargs = act, dict(act_kwargs or {})

    def __call__(self) -> nn.Module:
        return create_act(self.act, **self.act_kwargs)

    @functools.cached_property
    def sample(self) -> nn.Module:
        """One module made by the recipe, to read its properties from."""
        return self()

    @property
    def normalized(self) -> bool:
        """Whether the modules are ANAct normalized activations."""
        return isinstance(self.sample, NormalizedActivation)

    @property
    def multiplier(self) -> int:
        """How many channels the activation returns per input channel (2 for CReLU)."""
        return int(getattr(self.sample, "channel_multiplier", 1))

    def plain(self) -> ActFactory:
        """The unnormalized counterpart: a normalized activation's base activation, else the same recipe."""
        sample = self.sample
        if not isinstance(sample, NormalizedActivation):
            return self
        base = getattr(sample, "base_module", None)
        if base is not None:
            return ActFactory(lambda: copy.deepcopy(base))
        return ActFactory(sample.base.name, sample.base.params)

    def single(self) -> ActFactory:
        """The channel-preserving counterpart: ReLU for CReLU, else the same recipe."""
        if self.multiplier == 1:
            return self
        if isinstance(self.sample, CReLU):
            return ActFactory("relu")
        raise ValueError(f"no channel-preserving counterpart is known for {self.sample!r}")

    def __repr__(self) -> str:
        kwargs = "".join(f", {k}={v!r}" for k, v in self.act_kwargs.items())
        return f"ActFactory({self.act!r}{kwargs})"


def affine_for(order: str, act: ActFactory | None, override: bool | None) -> bool:
    """ANAct's rule unless ``override`` is set: no affine transform in a BN right before a normalized act."""
    if override is not None:
        return override
    return not (order == "convention" and act is not None and act.normalized)


def scale(channels: int, width: float) -> int:
    """``channels`` times the width multiplier, rounded, at least 1."""
    return max(1, round(channels * width))


def check_width(width: float) -> None:
    """A width multiplier must be positive."""
    if not width > 0:
        raise ValueError(f"width must be a positive multiplier (got {width!r})")


def image_shape(input_shape: Sequence[int], model: str) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``input_shape``, or an error naming the model."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{model} takes images: input_shape must be (C, H, W), got {tuple(input_shape)}")
    return shape  # type: ignore[return-value]


def check_init(init: str) -> None:
    """``init`` must be one of :data:`INITS`."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {list(INITS)}")


def finish(model: nn.Module, init: str, centralize: bool = False) -> nn.Module:
    """Weight centralization (optional), then ``init`` (``"torch"`` keeps PyTorch's initialisation)."""
    check_init(init)
    if centralize:
        centralize_weights(model)
    if init != "torch":
        init_weights(model, init)
    return model
