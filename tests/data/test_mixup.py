import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from normact.data import mixup, mixup_loss
from normact.data.mixup import sample_beta


def test_lambda_follows_beta_alpha_alpha():
    g = torch.Generator().manual_seed(0)
    alpha = 0.7
    draws = torch.tensor([sample_beta(alpha, g) for _ in range(4000)], dtype=torch.float64)
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)).
    variance = 1.0 / (4.0 * (2.0 * alpha + 1.0))
    assert abs(draws.mean().item() - 0.5) < 4 * (variance / len(draws)) ** 0.5
    assert draws.var().item() == pytest.approx(variance, rel=0.08)
    assert stats.kstest(draws.numpy(), stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_mixed_batch_is_the_convex_combination_with_a_permutation():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, 4, 4, generator=g)
    y = torch.arange(32)  # labels name the samples, so y_b reveals the permutation
    x_mixed, y_a, y_b, lam = mixup(x, y, alpha=0.7, generator=g)
    assert 0.0 <= lam <= 1.0 and torch.equal(y_a, y)
    assert sorted(y_b.tolist()) == list(range(32)) and not torch.equal(y_b, y)
    expected = lam * x.double() + (1.0 - lam) * x.double()[y_b]
    torch.testing.assert_close(x_mixed.double(), expected, atol=1e-6, rtol=1e-6)


def test_mixup_is_determined_by_the_generator():
    x, y = torch.randn(8, 5), torch.arange(8)
    a = mixup(x, y, generator=torch.Generator().manual_seed(3))
    b = mixup(x, y, generator=torch.Generator().manual_seed(3))
    assert a[3] == b[3] and torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])


def test_mixup_loss_is_cross_entropy_against_mixed_one_hot_targets():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(16, 10, generator=g)
    y_a, y_b = torch.randint(0, 10, (16,), generator=g), torch.randint(0, 10, (16,), generator=g)
    lam = 0.37
    soft = lam * F.one_hot(y_a, 10).float() + (1 - lam) * F.one_hot(y_b, 10).float()
    torch.testing.assert_close(mixup_loss(logits, y_a, y_b, lam), F.cross_entropy(logits, soft))


@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_alpha_must_be_positive(alpha):
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mixup(torch.zeros(2, 1), torch.zeros(2), alpha=alpha)
