"""CIFAR ResNets of depth 6n + 2 (He et al. 2016, section 4.2), as in the CReLU / NormProp paper.

A 3x3 stem with 16 filters, three stages of ``n`` basic blocks with 16, 32 and 64 filters (stride 2 at
the first block of stages 2 and 3), a global average pool and a linear head: ResNet-110 is n = 18 (54
blocks). Shortcut ``"A"`` (zero padding, parameter-free) by default, as in ``fb.resnet.torch`` on
CIFAR. The paper's models are ``norm`` in {plain, bn, normprop, normprop2, normprop3} times ``act`` in
{relu, crelu}; its narrower CReLU models (12-24-48 filters) are ``width=0.75``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from normact.models._common import ActSpec, check_init, finish
from normact.models.registry import register_model
from normact.models.residual import BasicBlock
from normact.models.resnet import ResNet

__all__ = ["resnet_cifar"]


@register_model("resnet_cifar")
def resnet_cifar(
    depth: int = 110,
    num_classes: int = 10,
    input_shape: Sequence[int] = (3, 32, 32),
    act: ActSpec = "relu",
    init: str = "he",
    act_kwargs: Mapping[str, Any] | None = None,
    shortcut: str = "A",
    **kwargs: Any,
) -> ResNet:
    """A CIFAR ResNet of ``depth = 6n + 2`` layers (:class:`ResNet` with basic blocks and the CIFAR stem).

    Takes :class:`ResNet`'s ``width``, ``norm``, ``norm_layer``, ``norm_affine`` and ``bias``. The CReLU
    paper initialises BN networks with He's scheme and the others with Xavier's (``init="xavier"``).
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth}")
    check_init(init)
    n = (depth - 2) // 6
    model = ResNet(
        BasicBlock,
        (n, n, n),
        num_classes,
        input_shape,
        widths=(16, 32, 64),
        stem="cifar",
        act_layer=act,
        act_kwargs=act_kwargs,
        shortcut=shortcut,
        **kwargs,
    )
    return finish(model, init)
