"""The layers on a GPU give the CPU's results (float64 both sides); skipped without CUDA."""

import pytest
import torch

from normact.nn import DSELU, LSELU, SSELU, CReLU, LReLUGPN, NLReLU, NormPropConv2d, NReLU, NSwish

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

LAYERS = {
    "nrelu": lambda: NReLU(momentum=0.3),
    "nswish-instance": lambda: NSwish(instance=True),
    "nlrelu": lambda: NLReLU(negative_slope=0.2),
    "dselu-trainable": lambda: DSELU(1.3, 0.6, trainable_lambda=True),
    "sselu": lambda: SSELU(1.0, 2.0, 0.7),
    "lselu-trainable": lambda: LSELU(1.0, 1.5, 0.3, trainable_lambda=True),
    "crelu": CReLU,
    "lrelu-gpn": LReLUGPN,
    "normprop": lambda: NormPropConv2d(3, 3, 3, variant=1, padding=1),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_cuda_matches_cpu(name):
    torch.manual_seed(0)
    cpu = LAYERS[name]().double()
    gpu = LAYERS[name]().double().cuda()
    gpu.load_state_dict(cpu.state_dict())
    for step in range(3):
        x = torch.randn(4, 3, 8, 8, dtype=torch.float64) * (1 + step)
        xc, xg = x.clone().requires_grad_(), x.cuda().requires_grad_()
        for m in (cpu, gpu):
            m.zero_grad()
        oc, og = cpu(xc), gpu(xg)
        g = torch.randn_like(oc)
        oc.backward(g)
        og.backward(g.cuda())
        torch.testing.assert_close(og.cpu(), oc)
        torch.testing.assert_close(xg.grad.cpu(), xc.grad)
        for (n, p), q in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
            torch.testing.assert_close(q.grad.cpu(), p.grad, msg=n)
        for (n, b), c in zip(cpu.named_buffers(), gpu.buffers(), strict=True):
            torch.testing.assert_close(c.cpu(), b, msg=n)
        assert torch.isfinite(og).all()


def test_cuda_compile_nrelu():
    torch.manual_seed(0)
    eager = NReLU().cuda()
    compiled = torch.compile(NReLU().cuda(), fullgraph=True)
    x = torch.randn(64, 128, device="cuda")
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-5, atol=1e-5)
