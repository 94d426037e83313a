import numpy as np
import pytest
import torch
from torch import nn

from normact import probes


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(inplace=True),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.Tanh(),
        nn.Dropout(0.2),
        nn.Flatten(),
        nn.Linear(6 * 5 * 5, 4),
    )


def every_probe() -> list[probes.Probe]:
    return [
        probes.SecondMoment(),
        probes.SecondMoment(where=nn.Conv2d, tap="output", name="conv_out"),
        probes.ChannelSkewness(),
        probes.Saturation(where=nn.Tanh),
        probes.Sparsity(),
        probes.NonZeroRatio(),
        probes.GradNorm(),
        probes.ResidualDelta(where=nn.Tanh),
    ]


def hook_counts(model: nn.Module) -> int:
    modules = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return modules + sum(len(p._post_accumulate_grad_hooks or {}) for p in model.parameters())


def test_detach_removes_every_hook_and_leaves_forward_unchanged() -> None:
    model = cnn().eval()
    x = torch.randn(5, 3, 5, 5)
    before = model(x)
    with probes.attach(model, *every_probe()) as p:
        assert hook_counts(model) > 0
        during = model(x)
        during.sum().backward()
    assert hook_counts(model) == 0
    assert torch.equal(before, during) and torch.equal(before, model(x))
    assert p.results()["saturation"]["4"]["calls"] == 1  # results stay readable after removal


def test_probes_keep_train_mode_and_a_sync_free_state() -> None:
    model = cnn().train()
    with probes.attach(model, *every_probe()) as p:
        model(torch.randn(4, 3, 5, 5)).sum().backward()
        states = [probe.state() for probe in p]
    assert model.training and all(m.training for m in model.modules())
    leaves = [v for s in states for layer in s.values() for v in layer.values() if not isinstance(v, dict)]
    assert all(isinstance(v, (torch.Tensor, int, list)) for v in leaves)


def test_records_are_flat_scalars_and_series_rows() -> None:
    model = cnn()
    with probes.attach(model, *every_probe()) as p:
        for _ in range(3):
            model(torch.randn(4, 3, 5, 5)).sum().backward()
    rows = p.records()
    assert {r["metric"] for r in rows} == {p_.name for p_ in every_probe()}
    for row in rows:
        assert isinstance(row["layer"], str) and np.isfinite(row["value"])
        assert all(isinstance(v, (int, float, str)) for v in row.values()), row
    series = p.series_records()
    assert {(r["metric"], r["layer"]) for r in series} >= {("second_moment", "2"), ("grad_norm", "7")}
    assert sorted({r["step"] for r in series if r["metric"] == "grad_norm"}) == [0, 1, 2]


def test_reset_and_layers_that_never_ran() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Tanh())
    with probes.attach(model, probes.SecondMoment(where=[model[1], model[2]])) as p:
        model[1](torch.randn(4, 3))
        assert p.results()["second_moment"]["1"]["calls"] == 1
        not_run = p.results()["second_moment"]["2"]
        assert not_run["calls"] == 0 and np.isnan(not_run["value"])
        p.reset()
        assert p.results()["second_moment"]["1"]["calls"] == 0
        x = torch.randn(6, 3)
        model[1](x)
        again = p.results()["second_moment"]["1"]
        assert again["calls"] == 1 and again["value"] == pytest.approx((x.double() ** 2).mean().item())


def test_input_tap_sees_values_before_an_inplace_activation() -> None:
    model = nn.Sequential(nn.Identity(), nn.ReLU(inplace=True))
    x = torch.randn(64, 8)
    with probes.attach(model, probes.SecondMoment(where=nn.ReLU, tap="input")) as p:
        model(x.clone())
    seen = p.results()["second_moment"]["1"]["value"]
    np.testing.assert_allclose(seen, (x.double() ** 2).mean(), rtol=1e-6)


def test_attach_errors() -> None:
    model = cnn()
    with pytest.raises(ValueError, match="names repeat"):
        probes.attach(model, probes.SecondMoment(), probes.SecondMoment())
    with pytest.raises(ValueError, match="at least one probe"):
        probes.attach(model)
    with pytest.raises(TypeError, match="Probe instances"):
        probes.attach(model, nn.ReLU())
    with pytest.raises(ValueError, match="tap='middle'"):
        probes.SecondMoment(tap="middle")
    with pytest.raises(ValueError, match="no known asymptote for ReLU"):
        probes.attach(model, probes.SecondMoment(), probes.Saturation())
    assert hook_counts(model) == 0  # a failed attach leaves nothing behind
    with pytest.raises(ValueError, match="no module of the default kind"):
        probes.attach(nn.Sequential(nn.Linear(2, 2)), probes.SecondMoment())
    embedding = nn.Sequential(nn.Embedding(5, 2))
    with probes.attach(embedding, probes.SecondMoment(where=nn.Embedding, tap="input")):
        with pytest.raises(TypeError, match=r"input of '0' \(Embedding\) is torch.int64, not a floating"):
            embedding(torch.tensor([1, 2]))
