"""VGG (Simonyan & Zisserman 2015) with the block order, the activation and ANAct's placement rules.

* VGG16 and VGG16_11 of "Batch Normalization and Bounded Activation Functions" (section 7, appendix
  A.6): VGG16_n removes the last ``16 - n`` convolutions of VGG16, so VGG16_11 keeps 8 convolutions and
  the 3 fully connected layers (11 weight layers). Convention, Swap or no BN (``block_order``), with BN
  on the hidden fully connected layers too.
* VGG19 of ANAct (section 3.2): with a normalized activation the top ``plain_top`` activations stay
  unnormalized (3 in the paper), so the BN of those super-layers is the "buffer" between the highest
  normalized activation and the classifier, and a BN right before a normalized activation has no
  affine transform.

Layout: the convolution stages (3x3 convolutions, a 2x2 max pool after each stage), an adaptive
average pool to ``pool_size`` x ``pool_size``, then ``fc1 - fc2 - head`` with dropout after ``fc1`` and
``fc2``. The defaults (``pool_size=1``, ``classifier_width=512``) are the usual CIFAR classifier;
``pool_size=7, classifier_width=4096`` is the ImageNet one. A stage's pool is left out where the map is
already 1x1 (e.g. the fifth pool for 28x28 inputs).
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
from normact.nn.blocks import ORDERS, ConvBlock, LinearBlock

__all__ = ["VGG", "VGG_STAGES", "vgg", "vgg16", "vgg16_11", "vgg19"]

# depth -> convolutions per stage; the stages have 64, 128, 256, 512, 512 filters.
VGG_STAGES: dict[int, tuple[int, ...]] = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
_FILTERS = (64, 128, 256, 512, 512)


class VGG(nn.Module):
    """VGG with Convention / Swap / no-BN blocks and ANAct's unnormalized top activations.

    Args:
        depth: 11, 13, 16 or 19 (the configurations A, B, D, E of Simonyan & Zisserman).
        num_classes: outputs of the head.
        input_shape: ``(C, H, W)`` of one sample.
        num_layers: keep this many weight layers by removing the last ``depth - num_layers``
            convolutions (VGG16_n of the bounded-activations paper, appendix A.6); None keeps all.
        width: multiplier of every layer's filters and of ``classifier_width``.
        act_layer: activation name, class or factory; ``act_kwargs`` its keyword arguments.
        block_order: ``"convention"``, ``"swap"`` or ``"none"`` (no BN), for every weight layer but the head.
        norm_layer: the convolutions' normalization (the fully connected layers use BatchNorm1d).
        norm_affine: None for ANAct's rule (no affine transform in a BN right before a normalized
            activation), or True / False for every BN.
        plain_top: the top activations (counted over the convolutions and ``fc1``, ``fc2``) that use the
            unnormalized counterpart of a normalized ``act_layer``; no effect on other activations.
        classifier_width: units of ``fc1`` and ``fc2``; None for a single linear head.
        pool_size: side of the adaptive average pool before the classifier.
        dropout: dropout probability after ``fc1`` and ``fc2``.

    Shape:
        Input ``(N, C, H, W)``, output ``(N, num_classes)``.
    """

    def __init__(
        self,
        depth: int = 16,
        num_classes: int = 10,
        input_shape: Sequence[int] = (3, 32, 32),
        num_layers: int | None = None,
        width: float = 1.0,
        act_layer: ActSpec = "relu",
        act_kwargs: Mapping[str, Any] | None = None,
        block_order: str = "convention",
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        norm_affine: bool | None = None,
        plain_top: int = 3,
        classifier_width: int | None = 512,
        pool_size: int = 1,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if depth not in VGG_STAGES:
            raise ValueError(f"unknown VGG depth {depth!r}; choose from {sorted(VGG_STAGES)}")
        if block_order not in ORDERS:
            raise ValueError(f"unknown block_order {block_order!r}; choose from {list(ORDERS)}")
        check_width(width)
        channels, height, side_w = image_shape(input_shape, f"VGG{depth}")
        stages = _truncate(VGG_STAGES[depth], depth, num_layers)
        act = ActFactory(act_layer, act_kwargs)
        hidden = [] if classifier_width is None else [scale(classifier_width, width)] * 2
        num_acts = sum(stages) + len(hidden)
        if not 0 <= plain_top <= num_acts:
            raise ValueError(
                f"plain_top must be in [0, {num_acts}] (the number of activations), got {plain_top}"
            )
        acts = [act] * (num_acts - plain_top) + [act.plain()] * plain_top
        self.depth, self.block_order = depth, block_order

        features: list[tuple[str, nn.Module]] = []
        size, index = min(height, side_w), 0
        for s, count in enumerate(stages, start=1):
            for i in range(1, count + 1):
                filters = scale(_FILTERS[s - 1], width)
                affine = affine_for(block_order, acts[index], norm_affine)
                block = ConvBlock(
                    channels,
                    filters,
                    3,
                    order=block_order,
                    act_layer=acts[index],
                    norm_layer=norm_layer,
                    affine=affine,
                )
                features.append((f"conv{s}_{i}", block))
                channels, index = block.out_features, index + 1
            if size > 1:
                features.append((f"pool{s}", nn.MaxPool2d(2)))
                size //= 2
        self.features = nn.Sequential(OrderedDict(features))
        self.pool = nn.AdaptiveAvgPool2d(pool_size)

        classifier: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
        units = channels * pool_size * pool_size
        for j, out in enumerate(hidden, start=1):
            affine = affine_for(block_order, acts[index], norm_affine)
            block = LinearBlock(units, out, order=block_order, act_layer=acts[index], affine=affine)
            classifier += [(f"fc{j}", block), (f"drop{j}", nn.Dropout(dropout))]
            units, index = block.out_features, index + 1
        classifier.append(("head", nn.Linear(units, num_classes)))
        self.classifier = nn.Sequential(OrderedDict(classifier))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)))

    def extra_repr(self) -> str:
        return f"depth={self.depth}, block_order={self.block_order!r}"


def _truncate(stages: tuple[int, ...], depth: int, num_layers: int | None) -> list[int]:
    """Convolutions per stage after removing the last ``depth - num_layers`` of them."""
    if num_layers is None:
        return list(stages)
    total = sum(stages)
    if not depth - total < num_layers <= depth:
        raise ValueError(
            f"num_layers must be in [{depth - total + 1}, {depth}] for VGG{depth} "
            f"(it removes depth - num_layers of its {total} convolutions), got {num_layers}"
        )
    keep, kept = total - (depth - num_layers), []
    for count in stages:
        if keep > 0:
            kept.append(min(count, keep))
            keep -= kept[-1]
    return kept


@register_model("vgg")
def vgg(
    depth: int = 16,
    num_classes: int = 10,
    input_shape: Sequence[int] = (3, 32, 32),
    act: ActSpec = "relu",
    init: str = "he",
    act_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> VGG:
    """:class:`VGG` of any depth, initialised by ``init`` (a ``normact.init`` scheme, or ``"torch"``)."""
    check_init(init)
    model = VGG(depth, num_classes, input_shape, act_layer=act, act_kwargs=act_kwargs, **kwargs)
    return finish(model, init)


@register_model("vgg16")
def vgg16(num_classes: int = 10, input_shape: Sequence[int] = (3, 32, 32), **kwargs: Any) -> VGG:
    """VGG16 with the CIFAR classifier (the bounded-activations paper); see :func:`vgg`."""
    return vgg(16, num_classes, input_shape, **kwargs)


@register_model("vgg16_11")
def vgg16_11(num_classes: int = 10, input_shape: Sequence[int] = (3, 32, 32), **kwargs: Any) -> VGG:
    """VGG16_11: VGG16 without its last 5 convolutions (bounded-activations paper, A.6); see :func:`vgg`."""
    return vgg(16, num_classes, input_shape, num_layers=11, **kwargs)


@register_model("vgg19")
def vgg19(num_classes: int = 10, input_shape: Sequence[int] = (3, 32, 32), **kwargs: Any) -> VGG:
    """VGG19 of ANAct section 3.2 (top three activations unnormalized); see :func:`vgg`."""
    return vgg(19, num_classes, input_shape, **kwargs)
