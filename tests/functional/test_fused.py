"""The fused CPU kernels and the pure-torch path give the same results."""

import math

import pytest
import torch

from normact.functional import (
    _fused,
    elementwise,
    fused_kernels,
    fused_kernels_available,
    normalization_factor,
    normalized,
    normalized_activation,
    selu_family,
)
from normact.nn import LSELU, NSwish

pytestmark = pytest.mark.skipif(
    not fused_kernels_available(), reason="the fused CPU kernels are not available here"
)

BASES = [
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("silu", {}),
    ("elu", {"alpha": 0.7}),
    ("selu", {}),
    ("sselu", {"lam": 1.1, "alpha": 2.0, "beta": 0.6}),
    ("lselu", {"lam": 1.05, "alpha": 1.5, "beta": 0.2}),
]


def run(x, base, fused, instance, training=True):
    x = x.clone().requires_grad_()
    alpha = torch.tensor(0.3, dtype=x.dtype, requires_grad=True)
    stats = [
        torch.zeros((), dtype=x.dtype),
        torch.ones((), dtype=x.dtype),
        torch.ones((), dtype=x.dtype),
        torch.tensor(2),
    ]
    if instance:
        stats = [None] * 4
    g = torch.linspace(-1, 1, x.numel(), dtype=x.dtype).reshape(x.shape)
    with fused_kernels(fused):
        for step in range(2):
            out = normalized_activation(x * (1 + step), alpha, *stats, base, training, 0.3, instance=instance)
        out.backward(g)
    return out.detach(), x.grad, alpha.grad, stats


@pytest.mark.parametrize(("name", "params"), BASES, ids=[b[0] for b in BASES])
@pytest.mark.parametrize("instance", [False, True])
def test_normalized_paths_agree(name, params, instance):
    base = elementwise(name, **params)
    assert base.kernel is not None
    # more than one 16384-element block per sample, and a ragged last block
    x = torch.randn(3, 7, 41, 59, dtype=torch.float64) * 1.7 + 0.2
    exact = run(x, base, False, instance)
    for training in (True, False):
        torch.testing.assert_close(
            run(x, base, True, instance, training)[0], run(x, base, False, instance, training)[0]
        )
    fused64 = run(x, base, True, instance)
    for u, v in zip(fused64[:3], exact[:3], strict=True):
        torch.testing.assert_close(u, v, rtol=1e-11, atol=1e-11)
    # float32: both paths against the float64 result. alpha's gradient is a sum of 17k-50k terms of
    # both signs, far smaller than the sum of their sizes: float32 accumulation (the torch path's
    # bmm blocks) loses up to about 1e-4 of it, the kernels about 1e-5
    for fused, alpha_rtol in ((True, 5e-5), (False, 1e-3)):
        out, gx, ga, stats = run(x.float(), base, fused, instance)
        torch.testing.assert_close(out.double(), exact[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(gx.double(), exact[1], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ga.double(), exact[2], rtol=alpha_rtol, atol=1e-5)
        if not instance:
            for u, v in zip(stats, exact[3], strict=True):
                torch.testing.assert_close(
                    u.double() if u.is_floating_point() else u, v, rtol=1e-5, atol=1e-6
                )


@pytest.mark.parametrize("kind", ["dselu", "sselu", "lselu"])
@pytest.mark.parametrize("trainable", [False, True])
def test_selu_paths_agree(kind, trainable):
    x = torch.randn(5, 3, 40, 40) * 2
    grads = []
    for fused in (True, False):
        xr = x.clone().requires_grad_()
        lam = torch.tensor(1.07, requires_grad=True) if trainable else 1.07
        with fused_kernels(fused):
            out = selu_family(xr, kind, lam, 1.6, 0.7)
            out.backward(torch.cos(x))
        grads.append((out.detach(), xr.grad, lam.grad if trainable else None))
    for u, v in zip(*grads, strict=True):
        if u is not None:
            torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)


def test_thread_count_does_not_change_the_statistics():
    base = elementwise("silu")
    x = torch.randn(8, 64, 32, 32)
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            stats = [torch.zeros(()), torch.ones(()), torch.ones(()), torch.tensor(0)]
            with fused_kernels(True):
                normalized_activation(x, torch.zeros(()), *stats, base, True)
            results.append(stats)
    finally:
        torch.set_num_threads(threads)
    for u, v in zip(*results, strict=True):
        assert torch.equal(u, v)


@pytest.mark.parametrize("kind", ["dselu", "sselu", "lselu"])
def test_selu_kernel_keeps_relative_accuracy_near_zero(kind):
    # alpha (e^x - 1) for tiny negative x: no cancellation, about float32's own relative precision
    x = torch.cat([-torch.logspace(-8, 1.5, 500), torch.logspace(-8, 1.5, 500)])
    with fused_kernels(True):
        out = selu_family(x, kind, 1.05, 1.6, 0.7)
    exact = selu_family(x.double(), kind, 1.05, 1.6, 0.7)
    assert ((out.double() - exact).abs() / exact.abs()).max() < 1e-6


def test_silu_kernel_is_accurate_at_the_extremes():
    # the kernels' sigmoid is 1 / (1 + e^-|x|), mirrored for x < 0, with e^x clamped below at
    # e^-87.34 (where float32 underflows): f(x) to float32 precision, or within 1e-33 of it
    x = torch.tensor(
        [-1e4, -100, -88.5, -87.4, -87.3, -20, -1, -1e-30, -0.0, 0, 1e-30, 1, 20, 87.3, 88.5, 1e4]
    )
    x = torch.cat([x, torch.linspace(-30, 30, 4001)])
    out = torch.empty_like(x)
    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    _fused.kernels().forward(x[None], out[None], one, zero, _fused.SILU, 0.0, 0.0, 1.0)
    torch.testing.assert_close(out.double(), torch.nn.functional.silu(x.double()), rtol=3e-7, atol=1e-33)


@pytest.mark.parametrize("momentum", [0.3, None])
def test_running_statistics_rule_is_the_same_in_cpp_and_python(momentum):
    """The kernels' statistics op against update_running_statistics on random batch sequences.

    Batches of varied offset cross the L/U gate both ways; constant batches (rho undefined) and
    all-negative ReLU batches (rho' zero) are skipped by both, also as the very first batch.
    """
    gen = torch.Generator().manual_seed(1)
    base = elementwise("relu")
    kernels = normalized._fused.kernels()
    states = {path: (torch.zeros(()), torch.ones(()), torch.ones(()), torch.tensor(0)) for path in ("c", "p")}
    states = {k: tuple(t.double() if t.is_floating_point() else t for t in v) for k, v in states.items()}
    kinds = ["constant", "negative"] + ["random"] * 38
    order = torch.randperm(len(kinds), generator=gen).tolist()
    gated = 0
    for step, i in enumerate([0, 1, *order]):
        kind = kinds[i] if step >= 2 else ["constant", "negative"][step]
        if kind == "constant":
            x = torch.full((50,), 0.7, dtype=torch.float64)
        elif kind == "negative":
            x = -torch.rand(50, generator=gen, dtype=torch.float64) - 0.1
        else:
            # relu's rho depends on the offset (from about 0 to 1), not on the scale
            shift, scale = torch.randn(2, generator=gen, dtype=torch.float64).tolist()
            x = (torch.randn(50, generator=gen, dtype=torch.float64) + 1.5 * shift) * math.exp(scale)
        moments = normalized._moments(x, base, 1, None)[1]
        out = {}
        for path, k in (("c", kernels), ("p", None)):
            alpha = torch.tensor(0.2, dtype=torch.float64)
            mean, rho, rho_p, scale_, count = normalized._statistics(
                moments, states[path], alpha, 0.3, momentum, 0.5, 2.0, False, 2.0**-52, k
            )
            out[path] = (mean.reshape(()), rho.reshape(()), rho_p.reshape(()), count.reshape(()).long())
            torch.testing.assert_close(
                scale_.reshape(()),
                normalization_factor(rho, rho_p).reshape(()) + 0.3 * math.tanh(0.2),
                rtol=1e-14,
                atol=0,
            )
        for u, v in zip(out["c"], out["p"], strict=True):
            torch.testing.assert_close(u, v, rtol=1e-14, atol=0)
        gated += int(bool(out["p"][1] == states["p"][1]) and kind == "random")
        states = out
    assert states["p"][3] == 40  # 42 batches; the two undefined first ones did not count
    assert gated > 0  # some batch rho fell outside the gate


LAYOUTS = {
    "transposed": lambda t: t.transpose(1, 3),
    "channels_last": lambda t: t.contiguous(memory_format=torch.channels_last),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("momentum", [0.2, None])
def test_layer_operator_takes_any_layout_and_updates_like_python(layout, momentum):
    """The C++ operator (autograd and running update in C++) against the pure-torch path."""
    base = elementwise("silu")
    x = LAYOUTS[layout](torch.randn(4, 6, 5, 7, dtype=torch.float64) + 0.3)
    g = torch.randn(x.shape, dtype=torch.float64)
    results = []
    for fused in (True, False):
        xr, alpha = x.clone().requires_grad_(), torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
        stats = [torch.zeros(()), torch.ones(()), torch.ones(()), torch.tensor(0)]
        with fused_kernels(fused):
            for step in range(3):
                out = normalized_activation(xr * (1 + step), alpha, *stats, base, True, momentum)
            out.backward(g)
        results.append((out.detach(), xr.grad, alpha.grad, *stats))
    for u, v in zip(*results, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("trainable", [False, True])
def test_selu_operator_takes_a_transposed_input(trainable):
    x = torch.randn(3, 5, 4, 6).transpose(1, 3)
    results = []
    for fused in (True, False):
        xr = x.clone().requires_grad_()
        lam = torch.tensor(1.07, requires_grad=True) if trainable else 1.07
        with fused_kernels(fused):
            out = selu_family(xr, "lselu", lam, 1.6, 0.2)
            out.backward(torch.cos(x))
        results.append((out.detach(), xr.grad, lam.grad if trainable else None))
    for u, v in zip(*results, strict=True):
        if u is not None:
            torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)


def test_eager_layers_record_one_cpp_autograd_node():
    """An eager call of a layer on the kernels is one C++ operator: its backward node is C++'s."""
    x = torch.randn(4, 5, requires_grad=True)
    with fused_kernels(True):
        assert NSwish()(x).grad_fn.name().endswith("::NormalizedActivation>")
        assert LSELU(trainable_lambda=True)(x).grad_fn.name().endswith("::SELUFamily>")
    with fused_kernels(False):
        assert NSwish()(x).grad_fn.name() == "_NormalizedActivationBackward"


def test_operators_run_in_inference_mode_and_are_once_differentiable():
    base = elementwise("relu")
    x = torch.randn(8, 10)
    stats = [torch.zeros(()), torch.ones(()), torch.ones(()), torch.tensor(0)]
    xr = x.clone().requires_grad_()
    with fused_kernels(True):
        with torch.inference_mode():
            expected = normalized_activation(x, torch.zeros(()), *stats, base, False)
            expected_selu = selu_family(x, "sselu", 1.1, 1.5, 0.8)
        for out, want in (
            (normalized_activation(xr, torch.zeros(()), *stats, base, False), expected),
            (selu_family(xr, "sselu", 1.1, 1.5, 0.8), expected_selu),
        ):
            torch.testing.assert_close(out.detach(), want)
            # as torch's once_differentiable: create_graph=True gives the gradient, which cannot be
            # differentiated again
            v = torch.ones_like(out, requires_grad=True)
            (grad,) = torch.autograd.grad(out, xr, v, create_graph=True)
            (plain,) = torch.autograd.grad(out, xr, torch.ones_like(out), retain_graph=True)
            torch.testing.assert_close(grad.detach(), plain)
            with pytest.raises(RuntimeError, match="differentiate twice"):
                grad.sum().backward()
