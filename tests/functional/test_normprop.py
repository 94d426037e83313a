import math

import torch

from normact.functional import normalized_weight, relu_gaussian_moments


def test_relu_gaussian_moments_by_monte_carlo():
    mean, std = relu_gaussian_moments()
    assert math.isclose(mean, 1 / math.sqrt(2 * math.pi))
    z = torch.relu(torch.randn(2_000_000, dtype=torch.float64))
    # five standard errors
    assert abs(z.mean().item() - mean) < 5 * std / math.sqrt(z.numel())
    assert abs(z.std().item() - std) < 5e-3


def test_normalized_weight_rows_have_norm_gamma():
    w = torch.randn(8, 3, 3, 3, dtype=torch.float64)
    gamma = torch.rand(8, dtype=torch.float64) + 0.5
    v = normalized_weight(w, gamma)
    torch.testing.assert_close(v.flatten(1).norm(dim=1), gamma)
    torch.testing.assert_close(
        v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1), w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    )
