"""MobileNet V1 (Howard et al. 2017) with block order and activation as parameters; Conv MobileNet V1.

* MobileNet V1 of "Batch Normalization and Bounded Activation Functions" (section 7.1): every
  convolution is a Convention, Swap or no-BN block (``block_order``).
* Conv MobileNet V1 of "Redefining the Self-Normalization Property" (section 6.3, after Chen et al.
  2020b): "traditional convolutions rather than depthwise separable". We read it as each depthwise
  3x3 convolution made a full 3x3 convolution, the pointwise 1x1 kept (``depthwise=False``), so the
  network keeps its 28 weight layers. Defaults: SELU, no BN, LeCun init.

Layout: a 3x3 stem with 32 filters, 13 blocks ``spatial`` (3x3) + ``pointwise`` (1x1) with 64, 128,
128, 256, 256, 512 (x6), 1024, 1024 filters (stride 2 at the 2nd, 4th, 6th and 12th), a global average
pool and a linear head. The stem has stride 2 on images whose smaller side is at least 128 and stride
1 on smaller ones (CIFAR, Tiny ImageNet), so 32x32 inputs end at 2x2.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from normact.models._common import (
    SMALL_INPUT,
    ActFactory,
    ActSpec,
    affine_for,
    check_init,
    check_width,
    finish,
    image_shape,
    scale,
)
from normact.models.registry import register_model
from normact.nn.blocks import ORDERS, ConvBlock

__all__ = ["MOBILENET_V1", "MobileNetV1", "SeparableBlock", "conv_mobilenet_v1", "mobilenet_v1"]

# (filters, stride) of the 13 blocks after the stem.
MOBILENET_V1: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *[(512, 1)] * 5,
    (1024, 2),
    (1024, 1),
)


class SeparableBlock(nn.Sequential):
    """``spatial`` 3x3 block (depthwise or full) then ``pointwise`` 1x1 block, each a :class:`ConvBlock`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        depthwise: bool,
        make: Callable[..., ConvBlock],
    ) -> None:
        spatial = make(in_channels, in_channels, 3, stride, groups=in_channels if depthwise else 1)
        pointwise = make(spatial.out_features, out_channels, 1, 1)
        super().__init__(OrderedDict(spatial=spatial, pointwise=pointwise))
        self.out_features = pointwise.out_features


class MobileNetV1(nn.Module):
    """MobileNet V1 with Convention / Swap / no-BN blocks; ``depthwise=False`` gives Conv MobileNet V1.

    Args:
        num_classes: outputs of the head.
        input_shape: ``(C, H, W)`` of one sample.
        width: the width multiplier (alpha of Howard et al.) of every layer.
        depthwise: depthwise 3x3 convolutions (MobileNet) or full ones (Conv MobileNet).
        act_layer: activation name, class or factory; ``act_kwargs`` its keyword arguments.
        block_order: ``"convention"``, ``"swap"`` or ``"none"`` (no BN).
        norm_layer: the normalization of the blocks.
        norm_affine: None for ANAct's rule (no affine transform in a BN right before a normalized
            activation), or True / False for every BN.
        stem_stride: stride of the stem; None for 2 on images of side >= 128, else 1.
        dropout: dropout probability before the head.

    Shape:
        Input ``(N, C, H, W)``, output ``(N, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        width: float = 1.0,
        depthwise: bool = True,
        act_layer: ActSpec = "relu",
        act_kwargs: Mapping[str, Any] | None = None,
        block_order: str = "convention",
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        norm_affine: bool | None = None,
        stem_stride: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if block_order not in ORDERS:
            raise ValueError(f"unknown block_order {block_order!r}; choose from {list(ORDERS)}")
        check_width(width)
        channels, height, side_w = image_shape(input_shape, "MobileNetV1")
        act = ActFactory(act_layer, act_kwargs)
        affine = affine_for(block_order, act, norm_affine)
        if stem_stride is None:
            stem_stride = 2 if min(height, side_w) >= SMALL_INPUT else 1
        self.depthwise, self.block_order = depthwise, block_order

        def make(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1) -> ConvBlock:
            return ConvBlock(
                c_in,
                c_out,
                kernel,
                stride,
                groups=groups,
                order=block_order,
                act_layer=act,
                norm_layer=norm_layer,
                affine=affine,
            )

        self.stem = make(channels, scale(32, width), 3, stem_stride)
        blocks, channels = [], self.stem.out_features
        for i, (filters, stride) in enumerate(MOBILENET_V1, start=1):
            block = SeparableBlock(channels, scale(filters, width), stride, depthwise, make)
            blocks.append((f"block{i}", block))
            channels = block.out_features
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.pool(self.blocks(self.stem(x)))))

    def extra_repr(self) -> str:
        return f"depthwise={self.depthwise}, block_order={self.block_order!r}"


@register_model("mobilenet_v1")
def mobilenet_v1(
    num_classes: int = 10,
    input_shape: Sequence[int] = (3, 32, 32),
    act: ActSpec = "relu",
    init: str = "he",
    act_kwargs: Mapping[str, Any] | None = None,
    centralize: bool = False,
    **kwargs: Any,
) -> MobileNetV1:
    """:class:`MobileNetV1` (the bounded-activations paper), then weight centralization and ``init``."""
    check_init(init)
    model = MobileNetV1(num_classes, input_shape, act_layer=act, act_kwargs=act_kwargs, **kwargs)
    return finish(model, init, centralize)


@register_model("conv_mobilenet_v1")
def conv_mobilenet_v1(
    num_classes: int = 10,
    input_shape: Sequence[int] = (3, 32, 32),
    act: ActSpec = "selu",
    init: str = "lecun",
    act_kwargs: Mapping[str, Any] | None = None,
    centralize: bool = False,
    block_order: str = "none",
    **kwargs: Any,
) -> MobileNetV1:
    """Conv MobileNet V1 of the self-normalization paper: full 3x3 convolutions, SELU, no BN, LeCun init.

    ``centralize`` registers weight centralization (``W - mean(W)`` per filter) on every weight layer.
    """
    return mobilenet_v1(
        num_classes,
        input_shape,
        act,
        init,
        act_kwargs,
        centralize,
        depthwise=False,
        block_order=block_order,
        **kwargs,
    )
