import torch

from normact.functional import crelu, crelu_derivative


def test_crelu_concatenates_both_halves():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    y = crelu(x)
    assert y.shape == (2, 6, 4, 4)
    torch.testing.assert_close(y, torch.cat([x.clamp_min(0), (-x).clamp_min(0)], 1))
    torch.testing.assert_close(crelu(x, dim=-1), torch.cat([x.clamp_min(0), (-x).clamp_min(0)], -1))
    assert torch.autograd.gradcheck(crelu, (x,))


def test_crelu_derivative_is_the_jacobian_entry_of_each_output():
    x = torch.randn(3, 5, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(crelu, x)  # (3, 10, 3, 5)
    d = crelu_derivative(x)
    for i in range(3):
        for j in range(10):
            torch.testing.assert_close(d[i, j], jac[i, j, i, j % 5])
