"""Unequal batch splits shared by the probe tests."""

import torch

SIZES = [1, 7, 40, 2, 150]


def split(x: torch.Tensor, sizes: list[int] = SIZES) -> list[torch.Tensor]:
    """``x`` cut along dim 0 into consecutive pieces of the given (unequal) sizes."""
    assert sum(sizes) == x.shape[0]
    return list(torch.split(x, sizes))
