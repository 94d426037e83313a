"""The fused kernels as custom operators: opcheck, torch.compile(fullgraph=True) and torch.export.

opcheck runs on the C++ and the Triton kernels; compile and export on the C++ ones (the Triton
kernels in a compiled graph run in ``make gpu-check``'s CUDA tests).
"""

import copy

import pytest
import torch
from tests.conftest import require_fused_kernels
from torch import nn
from torch._functorch.aot_autograd import aot_module_simplified, make_boxed_func

from normact.functional import _fused, _triton
from normact.nn import DSELU, LSELU, SSELU, NReLU, NSwish

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
OPS = {
    torch.ops.normact.moments.default,
    torch.ops.normact.forward.default,
    torch.ops.normact.backward.default,
}
KINDS = {"silu": (_fused.SILU, 0.0, 0.0, 1.0), "lselu": (_fused.LSELU, 1.5, 0.2, 1.05)}


@pytest.fixture(params=["cpp", pytest.param("triton", marks=pytest.mark.cuda)])
def device(request, monkeypatch):
    """The operators on the C++ kernels (CPU), and on the Triton kernels (CUDA, or the interpreter)."""
    if request.param == "cpp":
        require_fused_kernels()
    else:
        pytest.importorskip("triton")
        if not torch.cuda.is_available() and _triton.status()[1].find("interpreter") < 0:
            pytest.skip("Triton needs a CUDA device or TRITON_INTERPRET=1")
        monkeypatch.setitem(_triton._state, "device_types", {DEVICE})
    with _fused.fused_kernels(True):
        yield "cpu" if request.param == "cpp" else DEVICE


@pytest.mark.parametrize("kind", ["silu", "lselu"])  # a kind without and one with parameters
def test_opcheck(kind, device):
    params = KINDS[kind]
    x = torch.randn(3, 50, dtype=torch.float64, device=device)
    scale = (torch.rand(3, dtype=torch.float64, device=device) + 0.5).requires_grad_()
    shift = torch.randn(3, dtype=torch.float64, device=device, requires_grad=True)
    grad = torch.randn(3, 50, dtype=torch.float64, device=device)
    torch.library.opcheck(torch.ops.normact.moments.default, (x, *params))
    torch.library.opcheck(torch.ops.normact.forward.default, (x.requires_grad_(), scale, shift, *params))
    torch.library.opcheck(
        torch.ops.normact.backward.default, (grad, x.detach(), scale.detach(), shift.detach(), *params, True)
    )


def test_forward_operator_gradients(device):
    x = torch.randn(2, 7, dtype=torch.float64, device=device, requires_grad=True)
    scale = torch.tensor([0.8, 1.3], dtype=torch.float64, device=device, requires_grad=True)
    shift = torch.tensor([0.1, -0.2], dtype=torch.float64, device=device, requires_grad=True)
    op = torch.ops.normact.forward
    assert torch.autograd.gradcheck(lambda *t: op(*t, *KINDS["lselu"]), (x, scale, shift))


def model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(8, 16),
        NReLU(momentum=0.3),
        nn.Linear(16, 16),
        LSELU(1.05, 1.6, 0.1, trainable_lambda=True),
        nn.Linear(16, 16),
        NSwish(instance=True),
        nn.Linear(16, 16),
        SSELU(1.0, 2.0, 0.8),
        nn.Linear(16, 16),
        DSELU(1.05, 1.6),
        nn.Linear(16, 1),
    )


def recording_backend(graphs):
    def compiler(gm, _):
        graphs.append(gm)
        return make_boxed_func(gm.forward)

    return lambda gm, inputs: aot_module_simplified(gm, inputs, fw_compiler=compiler, bw_compiler=compiler)


def targets(graphs):
    """The functions the graphs call, nested graphs (autocast or grad-mode regions) included."""
    modules = [m for g in graphs for m in g.modules() if isinstance(m, torch.fx.GraphModule)]
    return {n.target for m in modules for n in m.graph.nodes if n.op == "call_function"}


@pytest.fixture
def cpp():
    require_fused_kernels()
    with _fused.fused_kernels(True):
        yield


def test_compiled_model_runs_the_fused_operators(cpp):
    torch._dynamo.reset()
    eager = model()
    compiled_module = copy.deepcopy(eager)
    graphs = []
    compiled = torch.compile(compiled_module, backend=recording_backend(graphs), fullgraph=True)
    for step in range(2):
        x = torch.randn(32, 8) + 0.1 * step
        for net in (eager, compiled):
            net.zero_grad()
            net(x).square().mean().backward()
        for (name, p), q in zip(eager.named_parameters(), compiled_module.parameters(), strict=True):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
        for b, c in zip(eager.buffers(), compiled_module.buffers(), strict=True):
            torch.testing.assert_close(c, b, rtol=1e-5, atol=1e-6)
    assert OPS <= targets(graphs)  # forward and backward graphs hold the fused operators


def test_export(cpp):
    net = model().eval()
    x = torch.randn(5, 8)
    net(x)
    program = torch.export.export(net, (x,))
    assert {torch.ops.normact.forward.default} <= targets([program.graph_module])
    torch.testing.assert_close(program.module()(x), net(x))
    trained = model().train()
    program = torch.export.export(trained, (x,))
    assert torch.ops.normact.moments.default in targets([program.graph_module])


def test_compiled_layer_keeps_running_statistics_finite(cpp):
    torch._dynamo.reset()
    layer = NReLU()
    graphs = []
    compiled = torch.compile(layer, backend=recording_backend(graphs), fullgraph=True)
    x = torch.randn(8, 16)
    compiled(x)
    before = [b.clone() for b in layer.buffers()]
    x[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite"):
        compiled(x)
    for b, c in zip(layer.buffers(), before, strict=True):
        assert torch.equal(b, c)
    assert torch.ops.normact.moments.default in targets(graphs)
