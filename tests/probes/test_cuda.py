import pytest
import torch
from torch import nn

from normact import probes

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_probes_never_synchronise_during_training_steps() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Tanh(), nn.Flatten(), nn.Linear(8 * 8 * 8, 4)
    ).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(16, 3, 8, 8, device="cuda")
    all_probes = [
        probes.SecondMoment(),
        probes.ChannelSkewness(),
        probes.Saturation(),
        probes.Sparsity(),
        probes.NonZeroRatio(),
        probes.GradNorm(),
        probes.ResidualDelta(where=nn.Tanh),
    ]
    with probes.attach(model, *all_probes) as p:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                optimizer.zero_grad()
                model(x).square().mean().backward()
                optimizer.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    results = p.results()
    assert results["second_moment"]["2"]["calls"] == 3 and len(results["grad_norm"]["4"]["series"]) == 3


def test_results_on_cuda_match_the_cpu() -> None:
    x = torch.randn(64, 5, 6, 6, dtype=torch.float64) * 2 + 0.3
    model = nn.Sequential(nn.Identity(), nn.Tanh())
    values = []
    for device in ("cpu", "cuda"):
        with probes.attach(model, probes.SecondMoment(), probes.ChannelSkewness(), probes.Sparsity()) as p:
            for part in x.to(device).split([5, 40, 19]):
                model(part)
        values.append([r["value"] for r in p.records()])
    assert values[1] == pytest.approx(values[0], rel=1e-10)
