"""torch.compile gives the eager outputs, gradients and running statistics (custom Functions traced)."""

import copy

import pytest
import torch
from torch import nn

from normact.nn import LSELU, SSELU, NReLU, NSwish


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
        nn.Linear(16, 1),
    )


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compiled_model_matches_eager(backend):
    torch._dynamo.reset()
    eager = model()
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module, backend=backend, fullgraph=True)
    for step in range(2):
        x = torch.randn(32, 8) + 0.1 * step
        for net in (eager, compiled):
            net.zero_grad()
            net(x).square().mean().backward()
        torch.testing.assert_close(compiled(x), eager(x), rtol=1e-5, atol=1e-6)
        for (name, p), q in zip(eager.named_parameters(), compiled_module.parameters(), strict=True):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
        for b, c in zip(eager.buffers(), compiled_module.buffers(), strict=True):
            torch.testing.assert_close(c, b, rtol=1e-5, atol=1e-6)
