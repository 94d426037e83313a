import math
import re

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from normact.functional import (
    elementwise,
    normalization_factor,
    normalized_activation,
    update_running_statistics,
)
from normact.functional.normalized import DEFAULT_LOWER, DEFAULT_MOMENTUM, DEFAULT_UPPER, NonFiniteStatistics

BASES = ["relu", "leaky_relu", "swish", "tanh", "elu", "gelu"]


def fresh(dtype=torch.float64):
    return [
        torch.zeros((), dtype=dtype),
        torch.ones((), dtype=dtype),
        torch.ones((), dtype=dtype),
        torch.zeros((), dtype=torch.long),
    ]


def reference(x, alpha, base, instance, b=0.3):
    """A plain composite: batch statistics under no_grad, then autograd through f and alpha only."""
    dims = tuple(range(1, x.dim())) if instance else tuple(range(x.dim()))
    with torch.no_grad():
        y, d = base(x), base.derivative(x)
        mu = y.mean(dims, keepdim=True)
        rho = y.var(dims, unbiased=False, keepdim=True) / x.var(dims, unbiased=False, keepdim=True)
        rho_prime = (d * d).mean(dims, keepdim=True)
        lam = torch.sqrt((rho + rho_prime) / (2 * rho * rho_prime))
    return (lam + b * torch.tanh(alpha)) * (base(x) - mu)


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("instance", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_training_forward_and_backward_match_composite(name, instance, channels_last, engine):
    base = elementwise(name)
    x = torch.randn(4, 3, 5, 6, dtype=torch.float64) * 1.5 + 0.3
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(4, 3, 5, 6, dtype=torch.float64)
    x1, a1 = x.clone().requires_grad_(), torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    x2, a2 = x.clone().requires_grad_(), torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    stats = fresh()
    out = normalized_activation(x1, a1, *stats, base, True, instance=instance)
    ref = reference(x2, a2, base, instance)
    torch.autograd.backward(out, g)
    torch.autograd.backward(ref, g)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(a1.grad, a2.grad)
    if channels_last:
        assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("name", ["relu", "swish", "tanh", "softplus"])
def test_gradcheck_eval(name, engine):
    base = elementwise(name)
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(-0.3, dtype=torch.float64, requires_grad=True)
    stats = [
        torch.tensor(0.2, dtype=torch.float64),
        torch.tensor(0.4, dtype=torch.float64),
        torch.tensor(0.6, dtype=torch.float64),
        torch.tensor(3),
    ]
    assert gradcheck(lambda x, a: normalized_activation(x, a, *stats, base, False), (x, alpha))


def test_gradcheck_user_callable():
    base = elementwise("tanh")
    custom = type(base)("cubic", lambda x: x**3 + x, lambda x: 3 * x**2 + 1)
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    stats = [
        torch.tensor(0.2, dtype=torch.float64),
        torch.tensor(1.5, dtype=torch.float64),
        torch.tensor(2.0, dtype=torch.float64),
        torch.tensor(3),
    ]
    assert gradcheck(lambda x, a: normalized_activation(x, a, *stats, custom, False), (x, alpha))


def hand_rule(batches, f, df, momentum, lower, upper):
    """ANAct eqs. 16-18 in numpy float64, straight from the definitions."""
    mu = rho = rho_p = None
    for x in batches:
        y, d = f(x), df(x)
        b_mu, b_rho, b_rho_p = y.mean(), y.var() / x.var(), (d * d).mean()
        if mu is None:
            mu, rho, rho_p = b_mu, b_rho, b_rho_p
            continue
        mu = (1 - momentum) * mu + momentum * b_mu
        if lower * rho < b_rho < upper * rho:
            rho = (1 - momentum) * rho + momentum * b_rho
        if lower * rho_p < b_rho_p < upper * rho_p:
            rho_p = (1 - momentum) * rho_p + momentum * b_rho_p
    return mu, rho, rho_p


def test_running_statistics_follow_the_rule_by_hand(engine):
    # Batches whose scale and shift change a lot, so that the gate rejects some rho and rho' values.
    scales, shifts = [1.0, 1.1, 4.0, 0.9, 0.2, 1.0, 3.0], [0.0, 0.1, -2.0, 0.2, 1.5, -0.1, 0.0]
    batches = [torch.randn(64, 8, dtype=torch.float64) * s + m for s, m in zip(scales, shifts, strict=True)]
    momentum, lower, upper = 0.3, 0.7, 1.4
    base = elementwise("relu")
    stats = fresh()
    alpha = torch.zeros((), dtype=torch.float64)
    for x in batches:
        normalized_activation(x, alpha, *stats, base, True, momentum, lower, upper)
    f = lambda x: np.maximum(x, 0)  # noqa: E731
    df = lambda x: (x > 0).astype(float)  # noqa: E731
    mu, rho, rho_p = hand_rule([x.numpy() for x in batches], f, df, momentum, lower, upper)
    assert stats[0].item() == pytest.approx(mu, rel=1e-12)
    assert stats[1].item() == pytest.approx(rho, rel=1e-12)
    assert stats[2].item() == pytest.approx(rho_p, rel=1e-12)
    assert stats[3].item() == len(batches)
    # the gate did reject something, and with it off the result differs
    free = hand_rule([x.numpy() for x in batches], f, df, momentum, 0.0, math.inf)
    assert free[1] != pytest.approx(rho, rel=1e-6)


def test_output_uses_updated_statistics_and_eval_uses_stored(engine):
    base = elementwise("swish")
    stats = fresh()
    alpha = torch.tensor(0.5, dtype=torch.float64)
    for _ in range(3):
        x = torch.randn(32, 16, dtype=torch.float64)
        out = normalized_activation(x, alpha, *stats, base, True, 0.2)
        scale = normalization_factor(stats[1], stats[2]) + 0.3 * torch.tanh(alpha)
        torch.testing.assert_close(out, scale * (base(x) - stats[0]))
    before = [s.clone() for s in stats]
    x = torch.randn(32, 16, dtype=torch.float64) * 5
    out = normalized_activation(x, alpha, *stats, base, False)
    for s, t in zip(stats, before, strict=True):
        assert torch.equal(s, t)
    torch.testing.assert_close(
        out, (normalization_factor(stats[1], stats[2]) + 0.3 * torch.tanh(alpha)) * (base(x) - stats[0])
    )


def test_cumulative_average_with_momentum_none():
    base = elementwise("relu")
    stats = fresh()
    batches = [torch.randn(200, dtype=torch.float64) * (1 + 0.1 * i) for i in range(5)]
    for x in batches:
        normalized_activation(
            x, torch.zeros((), dtype=torch.float64), *stats, base, True, None, 0.0, math.inf
        )
    assert stats[0].item() == pytest.approx(
        np.mean([torch.relu(x).mean().item() for x in batches]), rel=1e-12
    )


def test_update_rule_never_takes_undefined_values():
    mean, rho, rho_p, count = (torch.tensor(v, dtype=torch.float64) for v in (0.5, 0.4, 0.6, 0.0))
    count = count.long()
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    # first batch with an undefined rho: mean initialised, rho' initialised, count stays 0
    m, r, rp, c = update_running_statistics(
        mean,
        rho,
        rho_p,
        count,
        torch.tensor(0.1, dtype=torch.float64),
        nan,
        torch.tensor(0.3, dtype=torch.float64),
        0.1,
        0.5,
        2.0,
    )
    assert (m.item(), r.item(), rp.item(), c.item()) == (pytest.approx(0.1), 0.4, pytest.approx(0.3), 0)
    # the next defined batch initialises everything (no gate against the placeholder values)
    m, r, rp, c = update_running_statistics(
        m,
        r,
        rp,
        c,
        torch.tensor(0.2, dtype=torch.float64),
        torch.tensor(9.0, dtype=torch.float64),
        torch.tensor(0.01, dtype=torch.float64),
        0.1,
        0.5,
        2.0,
    )
    assert (m.item(), r.item(), rp.item(), c.item()) == (pytest.approx(0.2), 9.0, pytest.approx(0.01), 1)
    # afterwards an undefined value is skipped, but the batch still counts
    m, r, rp, c = update_running_statistics(
        m, r, rp, c, torch.tensor(0.4, dtype=torch.float64), nan, nan, 0.5, 0.0, math.inf
    )
    assert (m.item(), r.item(), rp.item(), c.item()) == (pytest.approx(0.3), 9.0, pytest.approx(0.01), 2)


@pytest.mark.parametrize(
    ("x", "rho_prime"),
    [
        (torch.tensor([0.7]), 1.0),  # a batch of one element
        (torch.full((4, 5), 0.3), 1.0),  # constant input
        (torch.full((4, 5), -2.0), None),  # constant and all negative: rho' = 0
        (-torch.rand(4, 5) - 0.1, None),  # all negative: ReLU's rho = rho' = 0
    ],
    ids=["one-element", "constant", "constant-negative", "all-negative"],
)
@pytest.mark.parametrize("first", [True, False])
def test_degenerate_batches_keep_buffers_finite(x, rho_prime, first, engine):
    base = elementwise("relu")
    stats = fresh(torch.float32)
    alpha = torch.zeros(())
    if not first:
        normalized_activation(torch.randn(16, 5), alpha, *stats, base, True)
    before = [s.clone() for s in stats]
    out = normalized_activation(x, alpha, *stats, base, True)
    assert all(torch.isfinite(s).all() for s in stats) and torch.isfinite(out).all()
    assert torch.equal(stats[1], before[1])  # rho is undefined for these batches
    if rho_prime is None:
        assert torch.equal(stats[2], before[2])
    else:
        expected = rho_prime if first else 0.9 * before[2].item() + 0.1 * rho_prime
        assert stats[2].item() == pytest.approx(expected)
    assert stats[3].item() == before[3].item() + (0 if first else 1)
    # the next ordinary batch initialises (or updates) everything
    x = torch.randn(16, 5)
    normalized_activation(x, alpha, *stats, base, True)
    assert stats[3].item() >= 1
    if first:
        relu = torch.relu(x)
        assert stats[1].item() == pytest.approx((relu.var() / x.var()).item(), rel=1e-4)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e30])
def test_non_finite_training_input_is_an_error(bad, engine):
    base = elementwise("swish")
    stats = fresh(torch.float32)
    normalized_activation(torch.randn(8, 3), torch.zeros(()), *stats, base, True)
    before = [s.clone() for s in stats]
    x = torch.randn(8, 3)
    x[2, 1] = bad
    with pytest.raises(NonFiniteStatistics, match="non-finite"):
        normalized_activation(x, torch.zeros(()), *stats, base, True)
    assert all(torch.equal(s, t) for s, t in zip(stats, before, strict=True))


def test_instance_statistics_per_sample(engine):
    base = elementwise("relu")
    x = torch.randn(3, 50, dtype=torch.float64) * torch.tensor([[0.5], [1.0], [4.0]]) + torch.tensor(
        [[0.0], [1.0], [-1.0]]
    )
    x[1] = 2.0  # a constant sample: its output is zero, never NaN
    alpha = torch.zeros((), dtype=torch.float64)
    out = normalized_activation(x, alpha, None, None, None, None, base, True, instance=True)
    assert torch.isfinite(out).all() and torch.all(out[1] == 0)
    for i in (0, 2):
        torch.testing.assert_close(out[i], reference(x[i : i + 1], alpha, base, True)[0])
    # training and eval agree in instance mode
    torch.testing.assert_close(
        normalized_activation(x, alpha, None, None, None, None, base, False, instance=True), out
    )


def test_half_precision_accumulates_in_float32():
    base = elementwise("relu")
    x = torch.randn(64, 128)
    stats32, stats16 = fresh(torch.float32), fresh(torch.float32)
    normalized_activation(x, torch.zeros(()), *stats32, base, True)
    out = normalized_activation(x.bfloat16(), torch.zeros(()), *stats16, base, True)
    assert out.dtype == torch.bfloat16
    for a, b in zip(stats32[:3], stats16[:3], strict=True):
        assert a.item() == pytest.approx(b.item(), rel=1e-2)


def test_saves_only_the_input(engine):
    sizes = []

    def pack(t):
        sizes.append(t.numel() * t.element_size())
        return t

    x = torch.randn(16, 8, 4, 4, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        normalized_activation(
            x, torch.zeros((), requires_grad=True), *fresh(torch.float32), elementwise("swish"), True
        )
    assert sum(sizes) <= x.numel() * x.element_size() + 64


def test_defaults_are_sane():
    assert 0 < DEFAULT_MOMENTUM <= 1 and 0 <= DEFAULT_LOWER < 1 < DEFAULT_UPPER


@pytest.mark.parametrize("name", ["relu", "swish", "tanh"])
def test_torch_func_jacobian_is_the_diagonal_of_the_derivative(name, engine):
    base = elementwise(name)
    x = torch.randn(7, dtype=torch.float64)
    alpha = torch.tensor(0.2, dtype=torch.float64)
    stats = [torch.tensor(v, dtype=torch.float64) for v in (0.1, 0.5, 0.6)] + [torch.tensor(3)]
    jac = torch.func.jacrev(lambda t: normalized_activation(t, alpha, *stats, base, False))(x)
    scale = normalization_factor(stats[1], stats[2]) + 0.3 * torch.tanh(alpha)
    torch.testing.assert_close(jac, torch.diag(scale * base.derivative(x)))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_unsupported_dtypes_are_named(dtype):
    from normact.nn import LSELU, NSwish

    for layer, name in ((NSwish(), "normalized activation (swish)"), (LSELU.from_epsilon(0.017), "lselu")):
        with pytest.raises(
            TypeError, match=rf"{re.escape(name)}: input dtype {dtype} .*float32, float64, bfloat16"
        ):
            layer(torch.ones(2, 3, dtype=dtype))
