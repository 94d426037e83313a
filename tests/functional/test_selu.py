import pytest
import torch
from torch.autograd import gradcheck

from normact.functional import dselu, lselu, selu_family, sselu

CASES = [
    (dselu, {"alpha": 1.2}, lambda x, lam, a: lam * torch.where(x > 0, x, a * (torch.exp(x) - 1))),
    (
        sselu,
        {"alpha": 2.0, "beta": 0.6},
        lambda x, lam, a, b: lam * torch.where(x > 0, x, a * (torch.exp(b * x) - 1)),
    ),
    (
        lselu,
        {"alpha": 1.5, "beta": 0.2},
        lambda x, lam, a, b: lam * torch.where(x > 0, x, a * torch.exp(x) + b * x - a),
    ),
]
IDS = ["dselu", "sselu", "lselu"]


@pytest.mark.parametrize(("fn", "params", "ref"), CASES, ids=IDS)
@pytest.mark.parametrize("trainable", [False, True])
def test_matches_composite(fn, params, ref, trainable, engine):
    x = (torch.randn(5, 6, 7, dtype=torch.float64) * 2).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    lam = torch.tensor(1.1, dtype=torch.float64, requires_grad=True) if trainable else 1.1
    lam_ref = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)
    g = torch.randn_like(x)
    out, expected = fn(x, lam, **params), ref(x_ref, lam_ref, *params.values())
    torch.testing.assert_close(out, expected)
    out.backward(g)
    expected.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad)
    if trainable:
        torch.testing.assert_close(lam.grad, lam_ref.grad)
        # eq. 41: dL/dlam = sum(dL/dy * y / lam)
        torch.testing.assert_close(lam.grad, (g * expected.detach() / 1.1).sum())


@pytest.mark.parametrize(("fn", "params", "ref"), CASES, ids=IDS)
def test_gradcheck(fn, params, ref, engine):
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, lam: fn(x, lam, **params), (x, lam))
    assert gradcheck(lambda x: fn(x, 0.9, **params), (x,))


@pytest.mark.parametrize(("fn", "params", "ref"), CASES, ids=IDS)
@pytest.mark.parametrize("trainable", [False, True])
def test_saves_only_the_input(fn, params, ref, trainable, engine):
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    x = torch.randn(32, 64, requires_grad=True)
    lam = torch.tensor(1.0, requires_grad=True) if trainable else 1.0
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x, lam, **params)
    assert sum(saved) <= x.numel() * x.element_size() + 8


def test_trainable_lambda_gradient_accumulates_in_float32():
    x = torch.randn(4096, 64)
    lam = torch.tensor(1.05, requires_grad=True)
    g = torch.randn_like(x).bfloat16()
    lselu(x.bfloat16(), lam, 1.6, 0.1).backward(g)
    reference = (g.double() * lselu(x.bfloat16(), 1.0, 1.6, 0.1).double()).sum()
    assert lam.grad.dtype == torch.float32
    assert lam.grad.item() == pytest.approx(reference.item(), rel=1e-4)


def test_channels_last_trainable(engine):
    x = (
        torch.randn(2, 3, 4, 5, dtype=torch.float64)
        .contiguous(memory_format=torch.channels_last)
        .requires_grad_()
    )
    lam = torch.tensor(1.2, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    sselu(x, lam, 1.5, 0.5).backward(g)
    xr = x.detach().contiguous().requires_grad_()
    lr = lam.detach().clone().requires_grad_()
    sselu(xr, lr, 1.5, 0.5).backward(g)
    torch.testing.assert_close(lam.grad, lr.grad)
    torch.testing.assert_close(x.grad, xr.grad)


def test_unknown_member():
    with pytest.raises(ValueError, match="unknown SELU family member 'xselu'"):
        selu_family(torch.zeros(1), "xselu", 1.0, 1.0, 1.0)


def test_torch_func_transforms(engine):
    x = torch.randn(9, dtype=torch.float64)
    lam = torch.tensor(1.05, dtype=torch.float64)
    jac = torch.func.jacrev(lambda t: lselu(t, lam, 1.6, 0.2))(x)
    expected = 1.05 * torch.where(x > 0, 1.0, 1.6 * torch.exp(x) + 0.2)
    torch.testing.assert_close(jac, torch.diag(expected))
    grad_lam = torch.func.grad(lambda lam: sselu(x, lam, 1.6, 0.7).sum())(lam)
    torch.testing.assert_close(grad_lam, sselu(x, 1.0, 1.6, 0.7).sum())
