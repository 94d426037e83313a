"""``step_signals`` and ``mu_fan_in``: values against independent computations, keys, the registry."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from normact import probes
from normact.models import create_model
from normact.nn.centralize import centralize_weights
from normact.probes.callbacks import MuFanIn, StepSignals, build_probe_callbacks, list_probe_callbacks


def _cnn(act="sselu", **kw):
    torch.manual_seed(0)
    return create_model("serial_cnn", num_classes=10, input_shape=(1, 12, 12), depth=8, act=act,
                        act_kwargs={"eps": 0.017} if act != "selu" else None, **kw)  # fmt: skip


def _step(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()


def test_second_moments_and_gradient_norms_against_direct_computation():
    model = _cnn().eval()
    x, y = torch.randn(6, 1, 12, 12), torch.arange(6)
    _step(model, x, y)
    cb = StepSignals(every=3)
    for step in (1, 2, 3, 4):
        cb.on_train_step(model, step, x, y)
    out = cb.on_epoch_end(model, 1, [])
    convs = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert {k.rpartition("@")[2] for k in out} == {"1", "4"}  # steps 1, 1 + every, ...
    outputs = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o)) for n, m in convs.items()
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for name, module in convs.items():
        expected = outputs[name].double().square().mean().item()
        assert out[f"step_second_moment/{name}@1"] == pytest.approx(expected, rel=1e-5)
        norm = math.sqrt(module.weight.grad.double().square().sum().item())
        assert out[f"step_grad_norm/{name}@4"] == pytest.approx(norm, rel=1e-5)
    assert cb.on_epoch_end(model, 2, []) == {}  # flushed


def test_theory_is_the_prediction_for_the_plain_prefix_and_only_once():
    model = _cnn("lselu").eval()
    x, y = torch.randn(8, 1, 12, 12), torch.arange(8) % 10
    _step(model, x, y)
    cb = StepSignals(every=1, where=nn.Conv2d, theory=True)
    cb.on_train_step(model, 1, x, y)
    cb.on_train_step(model, 2, x, y)
    out = cb.on_epoch_end(model, 1, [])
    theory = {k.partition("/")[2]: v for k, v in out.items() if k.startswith("second_moment_theory/")}
    features = nn.Sequential(model.stem, model.stage1, model.stage2, model.stage3)
    records = probes.compare_second_moments(features, x)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert list(theory) == convs and "head" not in theory
    for name, r in zip(convs, records, strict=True):
        assert theory[name] == pytest.approx(r["predicted"], rel=1e-9)
        assert out[f"step_second_moment/{name}@1"] == pytest.approx(r["measured"], rel=1e-5)
    assert not any(k.startswith("step_grad_norm/head") for k in out)  # where= restricts both signals


def test_gradient_of_a_centralized_weight_is_that_of_its_original():
    torch.manual_seed(0)
    model = centralize_weights(nn.Sequential(nn.Linear(5, 4), nn.SELU(), nn.Linear(4, 3))).eval()
    x, y = torch.randn(7, 5), torch.arange(7) % 3
    _step(model, x, y)
    cb = StepSignals(every=1)
    cb.on_train_step(model, 1, x, y)
    out = cb.on_epoch_end(model, 1, [])
    original = model[0].parametrizations.weight.original.grad
    assert out["step_grad_norm/0@1"] == pytest.approx(torch.linalg.vector_norm(original).item(), rel=1e-6)


def test_mu_fan_in_is_the_weight_records_column():
    model = _cnn("dselu", width=0.5)
    out = MuFanIn().on_epoch_end(model, 1, [])
    rows = probes.weight_records(model, with_coherence=False)
    assert out == {f"mu_fan_in/{r['name']}": r["mu_fan_in"] for r in rows}
    w = model.stage2.conv1.layer.weight.double()
    assert out["mu_fan_in/stage2.conv1.layer.weight"] == pytest.approx(abs(w.mean().item()) * w[0].numel())


def test_registry_and_errors():
    assert {"mu_fan_in", "step_signals"} <= set(list_probe_callbacks())
    (cb,) = build_probe_callbacks([{"name": "step_signals", "every": 5, "theory": True}])
    assert (cb.every, cb.theory) == (5, True)
    with pytest.raises(ValueError, match="every must be a positive int"):
        StepSignals(every=0)
    with pytest.raises(ValueError, match=r"train.probes\[0\] \(mu_fan_in\)"):
        build_probe_callbacks([{"name": "mu_fan_in", "where": "x"}])
