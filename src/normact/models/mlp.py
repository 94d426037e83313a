"""The deep fully connected network of "Redefining the Self-Normalization Property" (appendix A.4, E).

The paper trains a 64-layer fully connected network on UCI MiniBooNE, Adult and HTRU2 and plots the
activations of its layers 1, 4, 16 and 64; we read "64 layers" as 64 hidden layers, each a linear layer
and its activation, followed by a linear head. The paper does not give the width: 256 by default.
Defaults are the paper's: SELU-family activation, no BN, weights from N(0, 1/fan_in), optional weight
centralization. Inputs of any shape are flattened.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from math import prod
from typing import Any

from torch import Tensor, nn

from normact.models._common import ActFactory, ActSpec, affine_for, check_init, finish
from normact.models.registry import register_model
from normact.nn.blocks import ORDERS, LinearBlock

__all__ = ["MLP", "mlp"]


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units (each a :class:`LinearBlock`) and a linear head.

    Args:
        depth: hidden layers (64 in the paper).
        width: units per hidden layer.
        num_classes: outputs of the head.
        input_shape: shape of one sample; it is flattened.
        act_layer: activation name, class or factory; ``act_kwargs`` its keyword arguments.
        block_order: ``"none"`` (no BN, the self-normalizing network), ``"convention"`` or ``"swap"``.
        norm_affine: None for ANAct's rule (no affine transform in a BN right before a normalized
            activation), or True / False for every BN.

    Children: ``flatten``, ``blocks`` (``fc1`` .. ``fc<depth>``), ``head``.

    Shape:
        Input ``(N, *input_shape)``, output ``(N, num_classes)``.
    """

    def __init__(
        self,
        depth: int = 64,
        width: int = 256,
        num_classes: int = 2,
        input_shape: Sequence[int] = (50,),
        act_layer: ActSpec = "selu",
        act_kwargs: Mapping[str, Any] | None = None,
        block_order: str = "none",
        norm_affine: bool | None = None,
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be positive ints, got depth={depth}, width={width}")
        if block_order not in ORDERS:
            raise ValueError(f"unknown block_order {block_order!r}; choose from {list(ORDERS)}")
        features = prod(input_shape)
        act = ActFactory(act_layer, act_kwargs)
        affine = affine_for(block_order, act, norm_affine)
        self.flatten = nn.Flatten()
        blocks = []
        for i in range(1, depth + 1):
            block = LinearBlock(features, width, order=block_order, act_layer=act, affine=affine)
            blocks.append((f"fc{i}", block))
            features = block.out_features
        self.blocks = nn.Sequential(OrderedDict(blocks))
        self.head = nn.Linear(features, num_classes)
        self.block_order = block_order

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.flatten(x)))

    def extra_repr(self) -> str:
        return f"block_order={self.block_order!r}"


@register_model("mlp")
def mlp(
    num_classes: int = 2,
    input_shape: Sequence[int] = (50,),
    act: ActSpec = "selu",
    init: str = "lecun",
    act_kwargs: Mapping[str, Any] | None = None,
    centralize: bool = False,
    **kwargs: Any,
) -> MLP:
    """:class:`MLP`, then weight centralization (``W - mean(W)`` per row) and ``init``."""
    check_init(init)
    model = MLP(
        num_classes=num_classes, input_shape=input_shape, act_layer=act, act_kwargs=act_kwargs, **kwargs
    )
    return finish(model, init, centralize)
