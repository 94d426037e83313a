"""Residual blocks (He et al. 2016) with BN, no normalization or NormProp 1-3, and ReLU, CReLU or any act.

"Exploring Normalization in Deep Residual Networks with Concatenated ReLUs" (Fig. 1): a basic block
is ``conv3x3 - act - conv3x3``, a bottleneck ``conv1x1 - act - conv3x3 - act - conv1x1``, each
convolution followed by BN (``norm="bn"``), by nothing (``"plain"``), or made a NormProp convolution
(``"normprop"``, ``"normprop2"``, ``"normprop3"``, which carry their ReLU / CReLU); the sum with the
shortcut goes through one more activation. CReLU sits only inside the residual branch, after the first
(basic) or the first two (bottleneck) convolutions; the next convolution takes twice the channels, so
a block keeps its number of filters and the identity path is unchanged.

ANAct (section 3.3, Fig. 6): every activation is normalized except the one right after the addition,
and a BN right before a normalized activation has no affine transform. Both follow from ``act_layer``:
the activation after the addition is the unnormalized, channel-preserving counterpart of ``act_layer``
(ReLU for NReLU and for CReLU, Swish for NSwish).

Shortcuts (Gross & Wilber's ``fb.resnet.torch``, which the CReLU paper follows): identity where the
shape is kept; where it changes, ``"A"`` subsamples and appends zero channels (parameter-free) and
``"B"`` is a 1x1 convolution followed by BN (without BN in plain networks). NormProp networks put a BN
on every shortcut that changes the shape (SEED-NOTES), after the zero padding in ``"A"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn

from normact.models._common import ActFactory, affine_for
from normact.nn.blocks import NormActBlock
from normact.nn.crelu import CReLU
from normact.nn.normprop import NormPropConv2d

__all__ = ["NORMS", "SHORTCUTS", "BasicBlock", "Bottleneck", "PadShortcut", "ResidualUnits"]

NORMS = ("bn", "plain", "normprop", "normprop2", "normprop3")
SHORTCUTS = ("A", "B")
_NORMPROP_VARIANT = {"normprop": 1, "normprop2": 2, "normprop3": 3}


class PadShortcut(nn.Module):
    """Shortcut option A of He et al.: keep every ``stride``-th position and append zero channels.

    Shape:
        ``(N, C_in, H, W)`` -> ``(N, C_out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"a zero-padding shortcut cannot reduce channels ({in_channels} -> {out_channels})"
            )
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


@dataclass(frozen=True)
class ResidualUnits:
    """How a residual network makes its convolutions, activations and shortcuts.

    Args:
        norm: one of :data:`NORMS`.
        act: the activation inside the blocks (and of the stem, channel-preserving).
        norm_layer: the BN class, called as ``norm_layer(channels)`` / ``(channels, affine=...)``.
        norm_affine: None for ANAct's rule, or True / False for the BN of every convolution.
        bias: bias of the convolutions of a ``"plain"`` network (the CReLU paper's Plain models have one,
            its "no bias" rows do not).
        shortcut: ``"A"`` or ``"B"`` (see the module docstring).
    """

    norm: str = "bn"
    act: ActFactory = field(default_factory=lambda: ActFactory("relu"))
    norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d
    norm_affine: bool | None = None
    bias: bool = True
    shortcut: str = "B"

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; choose from {list(NORMS)}")
        if self.shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {self.shortcut!r}; choose from {list(SHORTCUTS)}")
        if self.norm in _NORMPROP_VARIANT:
            _normprop_act(self.act)

    @property
    def out_act(self) -> ActFactory:
        """The activation after the addition: unnormalized and channel-preserving."""
        return self.act.plain().single()

    def conv(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, act: ActFactory | None
    ) -> nn.Module:
        """A convolution with its normalization and ``act`` (None: none, e.g. before the addition)."""
        padding = kernel // 2
        if self.norm in _NORMPROP_VARIANT:
            return NormPropConv2d(
                in_channels,
                out_channels,
                kernel,
                variant=_NORMPROP_VARIANT[self.norm],
                act=_normprop_act(act),
                stride=stride,
                padding=padding,
            )
        order = "convention" if self.norm == "bn" else "none"
        conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride, padding, bias=order == "none" and self.bias
        )
        affine = affine_for(order, act, self.norm_affine)
        return NormActBlock(conv, out_channels, order, act, self.norm_layer, affine)

    def projection(self, in_channels: int, out_channels: int, stride: int) -> nn.Module:
        """The shortcut from ``in_channels`` at stride ``stride`` to ``out_channels``."""
        if in_channels == out_channels and stride == 1:
            return nn.Identity()
        if self.shortcut == "A":
            layers = [PadShortcut(in_channels, out_channels, stride)]
            if self.norm in _NORMPROP_VARIANT:
                layers.append(self.norm_layer(out_channels))
        else:
            plain = self.norm == "plain"
            layers = [nn.Conv2d(in_channels, out_channels, 1, stride, bias=plain and self.bias)]
            if not plain:
                layers.append(self.norm_layer(out_channels))
        return nn.Sequential(*layers)


def _normprop_act(act: ActFactory | None) -> str | None:
    """The ``act=`` of :class:`NormPropConv2d` for ``act``: ``"relu"``, ``"crelu"`` or None."""
    if act is None:
        return None
    if isinstance(act.sample, CReLU):
        return "crelu"
    if isinstance(act.sample, nn.ReLU):
        return "relu"
    raise ValueError(f"NormProp networks take act 'relu' or 'crelu' (got {act.sample!r})")


class BasicBlock(nn.Module):
    """``act(conv2(conv1(x)) + shortcut(x))``, conv1 3x3 with the activation, conv2 3x3 without.

    Children ``conv1``, ``conv2``, ``shortcut``, ``act``; ``out_channels = width``.
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int, units: ResidualUnits) -> None:
        super().__init__()
        self.conv1 = units.conv(in_channels, width, 3, stride, units.act)
        self.conv2 = units.conv(width * units.act.multiplier, width, 3, 1, None)
        self.shortcut = units.projection(in_channels, width, stride)
        self.act = units.out_act()
        self.out_channels = width

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """``act(conv3(conv2(conv1(x))) + shortcut(x))``: 1x1, 3x3 (with the stride), 1x1 to ``4 width``.

    The activation follows conv1 and conv2. Children ``conv1``, ``conv2``, ``conv3``, ``shortcut``,
    ``act``; ``out_channels = 4 width``.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int, units: ResidualUnits) -> None:
        super().__init__()
        m = units.act.multiplier
        self.out_channels = width * self.expansion
        self.conv1 = units.conv(in_channels, width, 1, 1, units.act)
        self.conv2 = units.conv(width * m, width, 3, stride, units.act)
        self.conv3 = units.conv(width * m, self.out_channels, 1, 1, None)
        self.shortcut = units.projection(in_channels, self.out_channels, stride)
        self.act = units.out_act()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))
