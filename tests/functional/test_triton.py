"""The Triton kernels against the float64 pure-torch path, run by Triton's interpreter on CPU tensors.

On a machine with a CUDA device (``make gpu-check``) the same tests run the compiled kernels on it.
Tolerances: float64 to 1e-12 (the same math, summed in another order); float32 to 1e-5 relative to
the values' size (float32 arithmetic, float32 sums within blocks of 4096); bfloat16 and float16 to
their last bits (the output is rounded to the input's dtype).
"""

import os

import pytest
import torch
from torch.autograd import gradcheck

from normact.functional import _fused, _triton, elementwise, normalized_activation, selu_family
from normact.functional.normalized import NonFiniteStatistics

pytestmark = pytest.mark.cuda
pytest.importorskip("triton")
ON_GPU = torch.cuda.is_available()
if not ON_GPU and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("no CUDA device and TRITON_INTERPRET is not 1", allow_module_level=True)
DEVICE = "cuda" if ON_GPU else "cpu"
TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 1.6e-2, torch.float16: 2e-3}
BASES = [
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("silu", {}),
    ("elu", {"alpha": 0.7}),
    ("sselu", {"lam": 1.1, "alpha": 2.0, "beta": 0.6}),
    ("lselu", {"lam": 1.05, "alpha": 1.5, "beta": 0.2}),
]


@pytest.fixture
def triton_path(monkeypatch):
    """Run the fused kernels through Triton on this test's device (the interpreter: CPU tensors)."""
    monkeypatch.setitem(_triton._state, "device_types", {DEVICE})
    with _fused.fused_kernels(True):
        yield


def stats(dtype, instance):
    if instance:
        return [None] * 4
    return [
        torch.zeros((), dtype=dtype),
        torch.ones((), dtype=dtype),
        torch.ones((), dtype=dtype),
        torch.tensor(0),
    ]


def run(x, base, instance, triton, dtype=torch.float64, device="cpu", layout=lambda t: t):
    """Three training steps (the first initialises, then gated), then eval; grads of the last step.

    The batches are rounded to ``dtype`` first, so the float64 reference sees the same inputs.
    """
    batches = [(x + step * 0.7).to(dtype) for step in range(3)]  # shifted batches move rho
    if dtype != torch.float64 and not triton:
        batches = [b.double() for b in batches]
    batches = [layout(b.to(device)).requires_grad_() for b in batches]
    alpha = torch.tensor(0.3, dtype=batches[0].dtype, device=device, requires_grad=True)
    buffers = [s if s is None else s.to(device) for s in stats(torch.float64, instance)]
    grad = torch.cos(torch.arange(x.numel(), dtype=torch.float64)).reshape(x.shape).to(batches[0])
    with _fused.fused_kernels(triton):
        assert (_fused.usable(batches[0].detach(), base.kernel[0]) is _triton.TRITON) == triton
        for batch in batches:
            out = normalized_activation(batch, alpha, *buffers, base, True, 0.3, instance=instance)
        out.backward(grad)
        evaluated = normalized_activation(
            batches[0].detach(), alpha, *buffers, base, False, instance=instance
        )
    return [out.detach(), batches[-1].grad, alpha.grad, evaluated, *(b for b in buffers if b is not None)]


def check(got, want, tol):
    for u, v in zip(got, want, strict=True):
        scale = v.double().abs().max().clamp_min(1)
        torch.testing.assert_close(u.double().cpu() / scale, v.double().cpu() / scale, rtol=tol, atol=tol)


# every base in float64; float32 and bfloat16 for one base of each kind of kernel
CASES = [(*b, torch.float64) for b in BASES] + [
    (*b, dtype)
    for b in BASES
    if b[0] in ("leaky_relu", "silu", "lselu")
    for dtype in (torch.float32, torch.bfloat16)
]


@pytest.mark.parametrize(("name", "params", "dtype"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
@pytest.mark.parametrize("instance", [False, True], ids=["batch", "instance"])
def test_normalized_activation_matches_the_float64_torch_path(name, params, dtype, instance, triton_path):
    base = elementwise(name, **params)
    # rows of 5 * 7 * 131 = 4585 elements: a whole 4096-element block and a ragged one per sample
    x = torch.randn(3, 5, 7, 131, dtype=torch.float64) * 1.4 + 0.2
    want = run(x, base, instance, triton=False, dtype=dtype)
    got = run(x, base, instance, triton=True, dtype=dtype, device=DEVICE)
    assert got[0].dtype == dtype and got[1].dtype == dtype
    check(got[:2] + got[3:4], [want[0], want[1], want[3]], TOL[dtype])
    check(got[2:3] + got[4:], want[2:3] + want[4:], max(TOL[dtype], 1e-5) * 10)


@pytest.mark.parametrize("layout", ["transposed", "channels_last", "odd"])
def test_non_contiguous_and_odd_inputs(layout, triton_path):
    base = elementwise("silu")
    x = torch.randn(4, 3, 5, 7, dtype=torch.float64)
    arrange = {
        "transposed": lambda t: t.transpose(1, 3).contiguous().transpose(1, 3),  # strided, same shape
        "channels_last": lambda t: t.contiguous(memory_format=torch.channels_last),
        "odd": lambda t: t,
    }[layout]
    if layout == "odd":
        x = torch.randn(3, 1, dtype=torch.float64)  # 3 elements; one per sample
    for instance in (False, True):
        want = run(x, base, instance, triton=False, layout=arrange)
        got = run(x, base, instance, triton=True, device=DEVICE, layout=arrange)
        check(got, want, TOL[torch.float64])
        if layout == "channels_last":
            assert got[0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("kind", ["dselu", "sselu", "lselu"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16], ids=str)
def test_selu_family_with_a_trainable_lambda(kind, dtype, triton_path):
    x = torch.randn(3, 1500, dtype=torch.float64) * 2
    grad = torch.cos(x)
    results = []
    for triton, d in ((True, dtype), (False, torch.float64)):
        xr = x.to(DEVICE if triton else "cpu", d).requires_grad_()
        lam = torch.tensor(1.07, dtype=d, device=xr.device, requires_grad=True)
        with _fused.fused_kernels(triton):
            out = selu_family(xr, kind, lam, 1.6, 0.7)
            out.backward(grad.to(xr))
        results.append([out.detach(), xr.grad, lam.grad])
    assert results[0][0].dtype == dtype
    check(results[0][:2], results[1][:2], TOL[dtype])
    check(results[0][2:], results[1][2:], max(TOL[dtype], 1e-5) * 10)


def test_gradcheck_in_float64(triton_path):
    x = torch.randn(2, 3, 5, dtype=torch.float64, device=DEVICE, requires_grad=True)
    lam = torch.tensor(1.05, dtype=torch.float64, device=DEVICE, requires_grad=True)
    assert _fused.usable(x.detach(), _fused.LSELU) is _triton.TRITON
    assert gradcheck(lambda x, lam: selu_family(x, "lselu", lam, 1.6, 0.7), (x, lam))
    alpha = torch.tensor(-0.3, dtype=torch.float64, device=DEVICE, requires_grad=True)
    buffers = [torch.tensor(v, dtype=torch.float64, device=DEVICE) for v in (0.2, 0.4, 0.6)] + [
        torch.tensor(3)
    ]
    base = elementwise("silu")
    assert gradcheck(lambda x, a: normalized_activation(x, a, *buffers, base, False), (x, alpha))


def test_non_finite_input_keeps_the_running_statistics(triton_path):
    base = elementwise("relu")
    buffers = [b.to(DEVICE) for b in stats(torch.float32, False)]
    x = torch.randn(4, 50, device=DEVICE)
    normalized_activation(x, torch.zeros((), device=DEVICE), *buffers, base, True)
    before = [b.clone() for b in buffers]
    x[1, 3] = float("nan")
    with pytest.raises(NonFiniteStatistics):
        normalized_activation(x, torch.zeros((), device=DEVICE), *buffers, base, True)
    for u, v in zip(buffers, before, strict=True):
        assert torch.isfinite(u.double()).all() and torch.equal(u, v)


def test_a_failing_kernel_falls_back_with_one_warning(triton_path, monkeypatch):
    class Broken:
        def __getitem__(self, grid):
            raise RuntimeError("no compiler for this target")

    kernels = _triton._kernels()
    monkeypatch.setattr(kernels, "forward", Broken())
    monkeypatch.setitem(_triton._state, "probed", {})
    base = elementwise("relu")
    x = torch.randn(3, 40, device=DEVICE)
    with pytest.warns(RuntimeWarning, match="no compiler for this target") as caught:
        out = normalized_activation(
            x, torch.zeros((), device=DEVICE), None, None, None, None, base, True, instance=True
        )
        normalized_activation(
            x, torch.zeros((), device=DEVICE), None, None, None, None, base, True, instance=True
        )
    assert len([w for w in caught if "Triton" in str(w.message)]) == 1
    with _fused.fused_kernels(False):
        want = normalized_activation(
            x, torch.zeros((), device=DEVICE), None, None, None, None, base, True, instance=True
        )
    torch.testing.assert_close(out, want)
