"""ResNets (He et al. 2016) of basic or bottleneck blocks: ResNet-18/34/50/101/152 and the CIFAR layout.

The normalization (BN, plain, NormProp 1-3), the activation (ReLU, CReLU, ANAct's normalized ones, any
other) and the shortcut type are parameters of the blocks (:mod:`normact.models.residual`). Used by
"Exploring Normalization in Deep Residual Networks with Concatenated ReLUs" (ResNet-34/50/101 on
ImageNet, ResNet-110 on CIFAR) and ANAct (ResNet-50 on CIFAR-100 and Tiny ImageNet).

Stems: ``"imagenet"`` is a 7x7 stride-2 convolution with its activation and a 3x3 stride-2 max pool;
``"cifar"`` a 3x3 stride-1 convolution with its activation. ``stem=None`` picks ``"imagenet"`` for
images whose smaller side is at least 128 and ``"cifar"`` for smaller ones (CIFAR, Tiny ImageNet), so
the last stage of a ResNet-50 sees 4x4 maps on 32x32 inputs instead of 1x1. The stem's activation is
``act_layer`` made channel-preserving (ReLU for CReLU), since its output is the first identity path.
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
    check_init,
    check_width,
    finish,
    image_shape,
    scale,
)
from normact.models.registry import register_model
from normact.models.residual import BasicBlock, Bottleneck, ResidualUnits

__all__ = ["RESNET_LAYERS", "ResNet", "resnet", "resnet34", "resnet50", "resnet101"]

# depth -> (block, blocks per stage) of He et al. (2016), Table 1.
RESNET_LAYERS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
STEMS = ("imagenet", "cifar")


class ResNet(nn.Module):
    """A stem, stages ``layer1`` .. ``layerK`` of residual blocks, a global average pool and a linear head.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage; the first block of every stage but the first has stride 2.
        num_classes: outputs of the head.
        input_shape: ``(C, H, W)`` of one sample.
        widths: filters of each stage's blocks (a bottleneck returns 4 times as many); the stem has
            ``widths[0]``.
        stem: ``"imagenet"``, ``"cifar"`` or None (by input size, see the module docstring).
        width: multiplier of every layer's filters.
        norm: ``"bn"``, ``"plain"``, ``"normprop"``, ``"normprop2"`` or ``"normprop3"``.
        act_layer: activation name, class or factory inside the blocks; ``act_kwargs`` its keyword
            arguments. NormProp networks take ``"relu"`` or ``"crelu"``.
        norm_layer: the BN class.
        norm_affine: None for ANAct's rule (no affine transform in a BN right before a normalized
            activation), or True / False for the BN of every convolution.
        shortcut: ``"A"`` (zero padding) or ``"B"`` (1x1 convolution) where the shape changes.
        bias: bias of the convolutions of a ``"plain"`` network (``False``: the CReLU paper's "no bias").

    Shape:
        Input ``(N, C, H, W)``, output ``(N, num_classes)``.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        input_shape: Sequence[int] = (3, 224, 224),
        widths: Sequence[int] = (64, 128, 256, 512),
        stem: str | None = None,
        width: float = 1.0,
        norm: str = "bn",
        act_layer: ActSpec = "relu",
        act_kwargs: Mapping[str, Any] | None = None,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        norm_affine: bool | None = None,
        shortcut: str = "B",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if len(layers) != len(widths) or min(layers, default=0) < 1:
            raise ValueError(
                f"layers {tuple(layers)} must give a positive block count for each of widths {tuple(widths)}"
            )
        check_width(width)
        channels, height, side_w = image_shape(input_shape, "ResNet")
        if stem is None:
            stem = "imagenet" if min(height, side_w) >= SMALL_INPUT else "cifar"
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r}; choose from {list(STEMS)} or None")
        units = ResidualUnits(
            norm, ActFactory(act_layer, act_kwargs), norm_layer, norm_affine, bias, shortcut
        )
        self.norm, self.stem_type = norm, stem

        stem_width = scale(widths[0], width)
        if stem == "imagenet":
            conv = units.conv(channels, stem_width, 7, 2, units.act.single())
            self.stem = nn.Sequential(OrderedDict(conv=conv, pool=nn.MaxPool2d(3, 2, 1)))
        else:
            self.stem = nn.Sequential(
                OrderedDict(conv=units.conv(channels, stem_width, 3, 1, units.act.single()))
            )
        channels = stem_width
        for s, (count, filters) in enumerate(zip(layers, widths), start=1):
            blocks = []
            for i in range(count):
                b = block(channels, scale(filters, width), 2 if s > 1 and i == 0 else 1, units)
                blocks.append(b)
                channels = b.out_channels
            self.add_module(f"layer{s}", nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for s in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{s}")(x)
        return self.fc(self.pool(x))

    def extra_repr(self) -> str:
        return f"norm={self.norm!r}, stem={self.stem_type!r}"


@register_model("resnet")
def resnet(
    depth: int = 50,
    num_classes: int = 1000,
    input_shape: Sequence[int] = (3, 224, 224),
    act: ActSpec = "relu",
    init: str = "he",
    act_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> ResNet:
    """ResNet-18/34/50/101/152 (He et al. 2016, Table 1) as :class:`ResNet`, initialised by ``init``.

    The CReLU paper initialises BN networks with He's scheme and the others with Xavier's
    (``init="xavier"``); ANAct uses Xavier with its normalized activations.
    """
    if depth not in RESNET_LAYERS:
        raise ValueError(f"unknown ResNet depth {depth!r}; choose from {sorted(RESNET_LAYERS)}")
    check_init(init)
    block, layers = RESNET_LAYERS[depth]
    model = ResNet(block, layers, num_classes, input_shape, act_layer=act, act_kwargs=act_kwargs, **kwargs)
    return finish(model, init)


@register_model("resnet34")
def resnet34(num_classes: int = 1000, input_shape: Sequence[int] = (3, 224, 224), **kwargs: Any) -> ResNet:
    """ResNet-34 (basic blocks); see :func:`resnet`."""
    return resnet(34, num_classes, input_shape, **kwargs)


@register_model("resnet50")
def resnet50(num_classes: int = 1000, input_shape: Sequence[int] = (3, 224, 224), **kwargs: Any) -> ResNet:
    """ResNet-50 (bottleneck blocks); see :func:`resnet`."""
    return resnet(50, num_classes, input_shape, **kwargs)


@register_model("resnet101")
def resnet101(num_classes: int = 1000, input_shape: Sequence[int] = (3, 224, 224), **kwargs: Any) -> ResNet:
    """ResNet-101 (bottleneck blocks); see :func:`resnet`."""
    return resnet(101, num_classes, input_shape, **kwargs)
