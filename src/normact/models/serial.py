"""The serial (shortcut-free) CNN of "Redefining the Self-Normalization Property" (appendix C, Table 4).

A 3x3 stem with 16 filters, three stages of 3x3 convolutions with 16, 32 and 64 filters (the first
convolution of stages 2 and 3 has stride 2), a global average pool and a linear head. ``depth`` counts
the weight layers: ``depth = 6n + 2`` gives ``2n`` convolutions per stage. Table 4 is titled
"56-layer" but lists 8 pairs of convolutions in the first stage, which makes 54 layers; we follow the
title (n = 9: 18 convolutions in every stage, the layout of the 56-layer ResNet without shortcuts).

Defaults are the paper's: SELU-family activation, no BN, weights from N(0, 1/fan_in) (``init="lecun"``),
optional weight centralization. The ``BN + ReLU`` baseline of its Table 1 is ``block_order="convention",
act="relu"``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from normact.models._common import (
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

__all__ = ["SerialCNN", "serial_cnn"]


class SerialCNN(nn.Module):
    """A plain deep CNN of ``depth = 6n + 2`` weight layers in three stages (16, 32, 64 filters).

    Args:
        depth: weight layers, ``6n + 2`` (56 in the paper).
        num_classes: outputs of the head.
        input_shape: ``(C, H, W)`` of one sample (32x32 for CIFAR, 64x64 for Tiny ImageNet).
        width: multiplier of every layer's filters.
        act_layer: activation name, class or factory; ``act_kwargs`` its keyword arguments (e.g.
            ``{"eps": 0.017}`` for a SELU family solved for that epsilon).
        block_order: ``"none"`` (no BN, the self-normalizing network), ``"convention"`` or ``"swap"``.
        norm_layer: the normalization of the blocks when ``block_order`` has one.
        norm_affine: None for ANAct's rule (no affine transform in a BN right before a normalized
            activation), or True / False for every BN.

    Children: ``stem``, ``stage1`` .. ``stage3`` (``conv1``, ``conv2``, ... each a :class:`ConvBlock`),
    ``pool``, ``head``.

    Shape:
        Input ``(N, C, H, W)``, output ``(N, num_classes)``.
    """

    def __init__(
        self,
        depth: int = 56,
        num_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        width: float = 1.0,
        act_layer: ActSpec = "selu",
        act_kwargs: Mapping[str, Any] | None = None,
        block_order: str = "none",
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        norm_affine: bool | None = None,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 56, 110, ...), got {depth}")
        if block_order not in ORDERS:
            raise ValueError(f"unknown block_order {block_order!r}; choose from {list(ORDERS)}")
        check_width(width)
        channels = image_shape(input_shape, "SerialCNN")[0]
        act = ActFactory(act_layer, act_kwargs)
        affine = affine_for(block_order, act, norm_affine)
        self.depth, self.block_order = depth, block_order

        def make(c_in: int, c_out: int, stride: int) -> ConvBlock:
            return ConvBlock(
                c_in, c_out, 3, stride, order=block_order, act_layer=act, norm_layer=norm_layer, affine=affine
            )

        self.stem = make(channels, scale(16, width), 1)
        channels = self.stem.out_features
        per_stage = 2 * ((depth - 2) // 6)
        for s, filters in enumerate((16, 32, 64), start=1):
            convs = []
            for i in range(1, per_stage + 1):
                block = make(channels, scale(filters, width), 2 if s > 1 and i == 1 else 1)
                convs.append((f"conv{i}", block))
                channels = block.out_features
            self.add_module(f"stage{s}", nn.Sequential(OrderedDict(convs)))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.head(self.pool(x))

    def extra_repr(self) -> str:
        return f"depth={self.depth}, block_order={self.block_order!r}"


@register_model("serial_cnn")
def serial_cnn(
    num_classes: int = 10,
    input_shape: Sequence[int] = (3, 32, 32),
    act: ActSpec = "selu",
    init: str = "lecun",
    act_kwargs: Mapping[str, Any] | None = None,
    centralize: bool = False,
    **kwargs: Any,
) -> SerialCNN:
    """:class:`SerialCNN`, then weight centralization (``W - mean(W)`` per filter) and ``init``."""
    check_init(init)
    model = SerialCNN(
        num_classes=num_classes, input_shape=input_shape, act_layer=act, act_kwargs=act_kwargs, **kwargs
    )
    return finish(model, init, centralize)
