"""Weight centralization ``W - mean(W)`` per output row or filter, as a parametrization.

Redefining the Self-Normalization Property, section 5: centring each output filter's weights
keeps the mean of the pre-activations near zero for large fan-in (Proposition 3.2); it is applied
in the forward pass, so the stored weight stays free and its gradient is projected.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["WeightCentralization", "centralize_weights"]


class WeightCentralization(nn.Module):
    """Parametrization ``W -> W - mean(W)``, the mean over all dims but the output one (``dim``).

    Example:
        >>> parametrize.register_parametrization(conv, "weight", WeightCentralization())
    """

    def __init__(self, dim: int = 0) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, weight: Tensor) -> Tensor:
        if weight.dim() < 2:
            raise ValueError(
                f"weight centralization needs a weight with an input dimension (got {weight.dim()}D)"
            )
        dims = [d for d in range(weight.dim()) if d != self.dim % weight.dim()]
        return weight - weight.mean(dim=dims, keepdim=True)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def centralize_weights(model: nn.Module, layers: tuple[type[nn.Module], ...] = _LAYERS) -> nn.Module:
    """Register :class:`WeightCentralization` on the ``weight`` of every ``layers`` module, in place.

    Layers already centralized are left as they are. Returns ``model``.
    """
    for module in model.modules():
        if not isinstance(module, layers):
            continue
        if parametrize.is_parametrized(module, "weight") and any(
            isinstance(p, WeightCentralization) for p in module.parametrizations.weight
        ):
            continue
        parametrize.register_parametrization(module, "weight", WeightCentralization())
    return model
