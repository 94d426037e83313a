"""Weight + normalization + activation blocks in a chosen order, and NWDBN parameter groups.

"Batch Normalization and Bounded Activation Functions": Convention (weight -> BN -> activation),
Swap (weight -> activation -> BN), NoBN (weight -> activation) and NWDBN (Convention without weight
decay on BN's affine parameters). ANAct puts a BN without affine transform right before a
normalized activation (``affine=False``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["ORDERS", "ConvBlock", "LinearBlock", "NormActBlock", "nwdbn_param_groups"]

ORDERS = ("convention", "swap", "none")


class NormActBlock(nn.Sequential):
    """``layer`` followed by ``norm`` and ``act`` in the order ``order``; children ``layer, norm, act``.

    Args:
        layer: the weight layer (a Linear or Conv).
        features: the number of output features (channels) of ``layer``.
        order: ``"convention"`` (layer, norm, act), ``"swap"`` (layer, act, norm) or ``"none"`` (no norm).
        act_layer: a name, class or factory (``normact.get_act_layer``); None for no activation.
        norm_layer: the normalization class, called as ``norm_layer(features, affine=affine)``.
        affine: whether the normalization has its affine transform.

    ``out_features`` is the number of features the block returns (twice ``features`` after CReLU).
    """

    def __init__(
        self,
        layer: nn.Module,
        features: int,
        order: str = "convention",
        act_layer: str | Callable[..., nn.Module] | None = "relu",
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        affine: bool = True,
    ) -> None:
        from normact.registry import create_act  # the registry imports normact.nn

        if order not in ORDERS:
            raise ValueError(f"unknown block order '{order}'; choose from {list(ORDERS)}")
        act = create_act(act_layer)
        out_features = features * getattr(act, "channel_multiplier", 1)
        modules: list[tuple[str, nn.Module]] = [("layer", layer)]
        if order == "convention":
            modules.append(("norm", norm_layer(features, affine=affine)))
        modules += [("act", act)] if act is not None else []
        if order == "swap":
            modules.append(("norm", norm_layer(out_features, affine=affine)))
        super().__init__(OrderedDict(modules))
        self.order, self.out_features = order, out_features

    def extra_repr(self) -> str:
        return f"order={self.order}"


class ConvBlock(NormActBlock):
    """Conv2d + BatchNorm2d + activation (see :class:`NormActBlock`); ``padding`` defaults to 'same'-like.

    ``bias`` defaults to False in the Convention order, where BN follows the convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        bias: bool | None = None,
        order: str = "convention",
        act_layer: str | Callable[..., nn.Module] | None = "relu",
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        affine: bool = True,
    ) -> None:
        conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            kernel_size // 2 if padding is None else padding,
            groups=groups,
            bias=order != "convention" if bias is None else bias,
        )
        super().__init__(conv, out_channels, order, act_layer, norm_layer, affine)


class LinearBlock(NormActBlock):
    """Linear + BatchNorm1d + activation (see :class:`NormActBlock`).

    ``bias`` defaults to False in the Convention order, where BN follows the linear layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool | None = None,
        order: str = "convention",
        act_layer: str | Callable[..., nn.Module] | None = "relu",
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm1d,
        affine: bool = True,
    ) -> None:
        linear = nn.Linear(in_features, out_features, bias=order != "convention" if bias is None else bias)
        super().__init__(linear, out_features, order, act_layer, norm_layer, affine)


def nwdbn_param_groups(
    model: nn.Module,
    weight_decay: float,
    norm_types: Iterable[type[nn.Module]] = (_BatchNorm,),
) -> list[dict]:
    """Optimizer parameter groups with no weight decay on the parameters of ``norm_types`` modules.

    NWDBN of the bounded-activations paper: ``[{"params": others, "weight_decay": weight_decay},
    {"params": norm_params, "weight_decay": 0.0}]``. Frozen and shared parameters appear once.
    """
    norm_types = tuple(norm_types)
    no_decay = {
        id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)
    }
    groups: dict[bool, list[nn.Parameter]] = {False: [], True: []}
    for p in model.parameters():
        if p.requires_grad:
            groups[id(p) in no_decay].append(p)
    return [
        {"params": groups[False], "weight_decay": weight_decay},
        {"params": groups[True], "weight_decay": 0.0},
    ]
