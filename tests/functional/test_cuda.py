"""The layers on a CUDA device against the float64 pure-torch path on CPU (run by ``make gpu-check``)."""

import copy

import pytest
import torch

from normact.functional import fused_kernels
from normact.nn import LSELU, SSELU, NReLU, NSwish

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

LAYERS = {
    "nrelu": lambda: NReLU(),
    "nswish": lambda: NSwish(),
    "nswish-instance": lambda: NSwish(instance=True),
    "sselu-trainable": lambda: SSELU.from_epsilon(0.017, trainable_lambda=True),
    "lselu": lambda: LSELU.from_epsilon(0.017),
}
# float32: fp32 accumulation over ~10^5 elements; bf16: 8 bits of mantissa in the input and output
TOLERANCE = {torch.float32: 2e-5, torch.bfloat16: 2e-2, torch.float16: 4e-3}


def run(layer, x, grad):
    x = x.clone().requires_grad_()
    outs = [layer(x * scale) for scale in (1.0, 1.5)]  # two steps: the running update and the gate
    outs[-1].backward(grad)
    params = [p.grad for p in layer.parameters()]
    return outs[-1].detach(), x.grad, params, [b.clone() for b in layer.buffers()]


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_cuda_layers_match_the_float64_reference(name, dtype):
    x = torch.randn(6, 5, 17, 19, dtype=torch.float64) * 1.3 + 0.2
    grad = torch.randn_like(x)
    with fused_kernels(False):
        ref = run(LAYERS[name]().double(), x, grad)
    got = run(LAYERS[name]().cuda().to(dtype), x.cuda().to(dtype), grad.cuda().to(dtype))
    tol = TOLERANCE[dtype]
    assert got[0].dtype == dtype and got[1].dtype == dtype
    for u, v in zip(got[:2], ref[:2], strict=True):
        torch.testing.assert_close(u.double().cpu(), v, rtol=tol, atol=tol)
    for u, v in zip(got[2] + got[3], ref[2] + ref[3], strict=True):
        assert torch.isfinite(u).all()
        # parameter gradients are sums over every element: relative to their size
        torch.testing.assert_close(u.double().cpu(), v.double(), rtol=tol * 10, atol=tol * 10)


def test_compiled_layers_run_the_triton_operators():
    torch._dynamo.reset()
    graphs = []

    def backend(gm, inputs):
        from torch._functorch.aot_autograd import aot_module_simplified, make_boxed_func

        def compiler(g, _):
            graphs.append(g)
            return make_boxed_func(g.forward)

        return aot_module_simplified(gm, inputs, fw_compiler=compiler, bw_compiler=compiler)

    net = torch.nn.Sequential(
        NReLU(), torch.nn.Linear(16, 16), NSwish(instance=True), LSELU.from_epsilon(0.017)
    )
    net = net.cuda()
    eager = [copy.deepcopy(net), net]
    x = torch.randn(8, 16, device="cuda")
    compiled = torch.compile(eager[1], backend=backend, fullgraph=True)
    torch.testing.assert_close(compiled(x), eager[0](x), rtol=1e-5, atol=1e-5)
    nodes = {n.target for g in graphs for n in g.graph.nodes}
    assert torch.ops.normact.forward.default in nodes and torch.ops.normact.moments.default in nodes
