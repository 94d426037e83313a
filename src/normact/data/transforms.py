"""Batch-level augmentation on (B, C, H, W) tensors, vectorised over the batch, on any device.

Each transform is called as `t(x, generator)`. Random choices are drawn per sample, only from
`generator` (or torch's default generator when it is None), on the generator's device, so that a
run resumed with the same generator state replays the same augmentation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Transform = Callable[..., torch.Tensor]


def _check_batch(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(
            f"{name} expects a (B, C, H, W) batch (got {x.dim()}D input of shape {tuple(x.shape)})"
        )


def _device(generator: torch.Generator | None, x: torch.Tensor) -> torch.device:
    return generator.device if generator is not None else x.device


def _randint(high: int, n: int, generator: torch.Generator | None, x: torch.Tensor) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=generator, device=_device(generator, x)).to(x.device)


class RandomCrop:
    """Zero-pad each side by `padding`, then cut a random size x size window per sample.

    The standard CIFAR augmentation is `RandomCrop(32, padding=4)`.
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if padding < 0 or min(self.size) < 1:
            raise ValueError(
                f"RandomCrop needs size >= 1 and padding >= 0, got size={size}, padding={padding}"
            )
        self.padding = padding

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_batch(x, "RandomCrop")
        p, (h, w) = self.padding, self.size
        if p:
            x = F.pad(x, (p, p, p, p))
        b, c, hp, wp = x.shape
        if h > hp or w > wp:
            raise ValueError(f"RandomCrop size {self.size} exceeds the padded image size {(hp, wp)}")
        top = _randint(hp - h + 1, b, generator, x)
        left = _randint(wp - w + 1, b, generator, x)
        # One gather over the flattened image: index (B, 1, h*w) of each window's pixels, shared by channels.
        rows = (top[:, None] + torch.arange(h, device=x.device)) * wp  # (B, h)
        cols = left[:, None] + torch.arange(w, device=x.device)  # (B, w)
        index = (rows[:, :, None] + cols[:, None, :]).view(b, 1, h * w)
        return x.reshape(b, c, hp * wp).gather(2, index.expand(b, c, h * w)).view(b, c, h, w)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each sample left-right with probability p."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_batch(x, "RandomHorizontalFlip")
        b, c, h, w = x.shape
        flip = torch.rand(b, generator=generator, device=_device(generator, x)).to(x.device) < self.p
        cols = torch.arange(w, device=x.device)
        cols = torch.where(flip[:, None], w - 1 - cols, cols)  # (B, W): reversed columns where flipped
        return x.gather(3, cols[:, None, None, :].expand(b, c, h, w))

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c (dim 1); works on (B, C, ...) of any rank."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        self.std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if self.mean.shape != self.std.shape or not bool((self.std > 0).all()):
            raise ValueError(
                f"Normalize needs mean and std of one length and std > 0, got mean={mean}, std={std}"
            )

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != len(self.mean):
            raise ValueError(
                f"Normalize has {len(self.mean)} channels of mean/std but the input has shape "
                f"{tuple(x.shape)} (channels on dim 1)"
            )
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = self.mean.to(x.device, x.dtype).view(shape)
        std = self.std.to(x.device, x.dtype).view(shape)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Compose:
    """Apply transforms in order, passing each the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"
