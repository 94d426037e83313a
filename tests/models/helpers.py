"""Parameter counts from layer shapes, and a forward/backward check, for the model tests."""

import torch
from torch import nn


def num_params(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv(c_in: int, c_out: int, k: int, bias: bool = False, groups: int = 1) -> int:
    """Parameters of a k x k convolution."""
    return c_in // groups * c_out * k * k + (c_out if bias else 0)


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def bn(c: int, affine: bool = True) -> int:
    return 2 * c if affine else 0


def forward_backward(model: nn.Module, x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One training step's forward and backward pass: finite outputs, a gradient on every trainable weight."""
    model.train()
    out = model(x)
    assert out.shape == (x.shape[0], num_classes)
    assert torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out, torch.arange(x.shape[0]) % num_classes).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    return out


def call_order(
    model: nn.Module, x: torch.Tensor, types: tuple[type[nn.Module], ...]
) -> list[tuple[str, nn.Module]]:
    """The ``types`` modules of ``model`` in the order a forward pass on ``x`` calls them."""
    calls: list[tuple[str, nn.Module]] = []
    handles = [
        m.register_forward_hook(lambda mod, args, out, name=name: calls.append((name, mod)))
        for name, m in model.named_modules()
        if isinstance(m, types)
    ]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def resnet_count(
    bottleneck: bool,
    layers: tuple[int, ...],
    widths: tuple[int, ...],
    num_classes: int,
    *,
    c_in: int = 3,
    stem_kernel: int = 7,
    norm: str = "bn",
    multiplier: int = 1,
    shortcut: str = "B",
    bias: bool = True,
    normalized: bool = False,
) -> int:
    """Parameters of a ResNet from its layer shapes (He et al. 2016; the CReLU paper's Fig. 1; ANAct Fig. 6).

    ``multiplier`` is 2 for CReLU inside the blocks; ``normalized`` counts ANAct's activations (one alpha
    each, no BN affine before them) everywhere but after the additions.
    """

    def unit(ci: int, co: int, k: int, act: bool) -> int:
        if norm == "plain":
            return conv(ci, co, k, bias)
        if norm == "bn":
            return conv(ci, co, k) + bn(co, affine=not (normalized and act)) + int(normalized and act)
        return conv(ci, co, k, bias=True) + (0 if norm == "normprop3" else co)  # W, beta, gamma

    def short(ci: int, co: int, stride: int) -> int:
        if ci == co and stride == 1:
            return 0
        if shortcut == "A":
            return bn(co) if norm.startswith("normprop") else 0
        return conv(ci, co, 1, norm == "plain" and bias) + (0 if norm == "plain" else bn(co))

    total, c = unit(c_in, widths[0], stem_kernel, True), widths[0]
    m = multiplier
    for s, (count, w) in enumerate(zip(layers, widths)):
        for i in range(count):
            stride = 2 if s > 0 and i == 0 else 1
            if bottleneck:
                out = 4 * w
                total += unit(c, w, 1, True) + unit(w * m, w, 3, True) + unit(w * m, out, 1, False)
            else:
                out = w
                total += unit(c, w, 3, True) + unit(w * m, w, 3, False)
            total += short(c, out, stride)
            c = out
    return total + linear(c, num_classes)
