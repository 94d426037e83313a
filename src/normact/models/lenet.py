"""LeNet5 with the activation, the pooling and the weight initialisation as parameters.

ANAct section 3.1 (Table 1, Figures 3-4) trains LeNet5 on MNIST with nine activations, each with the
initialisation the paper names for it (``PAPER_INIT``). The layout is the classic one (LeCun et al.
1998) with zero padding on the first convolution so that 28x28 inputs keep their size::

    conv 6@5x5 (pad 2) - act - pool 2x2 - conv 16@5x5 - act - pool 2x2 - fc 120 - act - fc 84 - act - fc

Max pooling is the default (the usual modern LeNet5; the paper does not say); ``pool="avg"`` gives
LeNet's original average subsampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from normact.init import SCHEMES, init_weights
from normact.models.registry import register_model
from normact.registry import ActLayer, get_act_layer

__all__ = ["PAPER_INIT", "LeNet5", "lenet5", "paper_init"]

# ANAct section 3.1: Xavier for Tanh and the normalized activations, He for the ReLU family, ELU, SELU
# and Swish, orthogonal for the GPN baselines (section 3.2 adds LReLU-GPN and the normalized LReLU).
PAPER_INIT: dict[str, str] = {
    "tanh": "xavier",
    "nrelu": "xavier",
    "nswish": "xavier",
    "nlrelu": "xavier",
    "relu": "he",
    "leaky_relu": "he",
    "elu": "he",
    "selu": "he",
    "swish": "he",
    "silu": "he",
    "relu_gpn": "orthogonal",
    "lrelu_gpn": "orthogonal",
}

_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def paper_init(act: str | ActLayer) -> str:
    """The initialisation scheme ANAct uses with ``act`` (a registered activation name)."""
    key = act.lower() if isinstance(act, str) else None
    if key not in PAPER_INIT:
        raise ValueError(
            f"ANAct names no initialisation for activation {act!r} (it does for {sorted(PAPER_INIT)}); "
            f"pass init= one of {sorted(SCHEMES)} or 'torch' (PyTorch's default)"
        )
    return PAPER_INIT[key]


class LeNet5(nn.Module):
    """LeNet5 with a configurable activation, pooling and initialisation (ANAct section 3.1).

    Args:
        num_classes: outputs of the last layer.
        input_shape: ``(C, H, W)`` of one sample; H and W must leave a positive size after the two
            convolutions and poolings (28x28 gives 16@5x5 = 400 features).
        act: activation name (``normact.create_act``), module class or factory; each of the four
            activation positions gets its own instance.
        init: ``xavier``, ``he``, ``lecun``, ``orthogonal`` (``normact.init.init_weights``, biases
            zero), ``torch`` (PyTorch's default), or None for the scheme ANAct uses with ``act``.
        pool: ``"max"`` or ``"avg"`` 2x2 pooling with stride 2.
        act_kwargs: keyword arguments of every activation, e.g. ``{"momentum": 0.05}``.

    Shape:
        Input ``(N, C, H, W)``, output ``(N, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: Sequence[int] = (1, 28, 28),
        act: str | ActLayer = "relu",
        init: str | None = None,
        pool: str = "max",
        act_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"LeNet5 takes images: input_shape must be (C, H, W), got {tuple(input_shape)}")
        if pool not in _POOLS:
            raise ValueError(f"unknown pool {pool!r}; choose from {sorted(_POOLS)}")
        scheme = paper_init(act) if init is None else init
        if scheme not in (*SCHEMES, "torch"):
            raise ValueError(f"unknown init {scheme!r}; choose from {[*sorted(SCHEMES), 'torch']} or None")
        channels, height, width = input_shape
        side = [s // 2 - 4 for s in (height, width)]  # conv1 keeps the size (pad 2), pool, conv2
        if min(side) < 2:
            raise ValueError(f"input_shape {tuple(input_shape)} is too small for LeNet5 (at least 12x12)")
        features = 16 * (side[0] // 2) * (side[1] // 2)
        layer = get_act_layer(act)
        kwargs = dict(act_kwargs or {})
        self.act_name = act if isinstance(act, str) else getattr(act, "__name__", repr(act))
        self.init, self.pool = scheme, pool
        Pool = _POOLS[pool]
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2),  # (N, 6, H, W)
            layer(**kwargs),
            Pool(2),  # (N, 6, H/2, W/2)
            nn.Conv2d(6, 16, 5),  # (N, 16, H/2 - 4, W/2 - 4)
            layer(**kwargs),
            Pool(2),  # (N, 16, 5, 5) for 28x28
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, 120),
            layer(**kwargs),
            nn.Linear(120, 84),
            layer(**kwargs),
            nn.Linear(84, num_classes),
        )
        if scheme != "torch":
            init_weights(self, scheme)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def extra_repr(self) -> str:
        return f"act={self.act_name!r}, init={self.init!r}, pool={self.pool!r}"


@register_model("lenet5")
def lenet5(
    num_classes: int = 10,
    input_shape: Sequence[int] = (1, 28, 28),
    act: str | ActLayer = "relu",
    init: str | None = None,
    pool: str = "max",
    act_kwargs: dict[str, Any] | None = None,
) -> LeNet5:
    """LeNet5 (see :class:`LeNet5`), registered as ``"lenet5"``."""
    return LeNet5(num_classes, input_shape, act, init, pool, act_kwargs)
