import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from normact import probes
from normact.models import LeNet5
from normact.probes.callbacks import (
    ConvergenceScore,
    ProbePass,
    WeightMeans,
    build_probe_callbacks,
    list_probe_callbacks,
    register_probe_callback,
)
from normact.train import ResultsStore, load_config, train

from .batches import split


def _batches(n=200):
    x = torch.randn(n, 1, 28, 28)
    return [(xb, torch.zeros(len(xb), dtype=torch.long)) for xb in split(x)], x


def test_score_is_convergence_score_of_the_probe_batches_as_one_batch():
    model = LeNet5(act="nrelu").eval()
    batches, x = _batches()
    out = ConvergenceScore().on_epoch_end(model, 1, batches)
    score, records = probes.convergence_score(model, x)
    assert out["score"] == pytest.approx(score, rel=1e-12)
    assert {k for k in out if k != "score"} == {
        f"{q}/{r['layer']}" for r in records for q in ("rho", "rho_prime")
    }
    assert out["rho/classifier.2"] == pytest.approx(records[2]["rho"], rel=1e-12)
    only = ConvergenceScore(where=r"features\.[14]").on_epoch_end(model, 1, batches)
    assert set(only) == {
        "score",
        "rho/features.1",
        "rho_prime/features.1",
        "rho/features.4",
        "rho_prime/features.4",
    }


def test_weight_means():
    model = LeNet5(act="relu")
    out = WeightMeans().on_epoch_end(model, 3, [])
    assert out == {f"weight_mean/{k}": v for k, v in probes.weight_means(model).items()}
    assert out["weight_mean/classifier.1.weight"] == pytest.approx(
        model.classifier[1].weight.double().mean().item()
    )


def test_probe_pass_over_all_batches_and_fresh_each_epoch():
    model = LeNet5(act="tanh").eval()
    batches, x = _batches()
    callback = ProbePass(probes.SecondMoment())
    first = callback.on_epoch_end(model, 1, batches)
    assert callback.on_epoch_end(model, 2, batches) == pytest.approx(first)  # state reset, not accumulated
    with torch.no_grad():
        h = model.features[0](x)  # the input of the first activation
    assert first["second_moment/features.1"] == pytest.approx(h.double().square().mean().item(), rel=1e-6)
    assert not model._forward_hooks and not model.features[1]._forward_pre_hooks  # hooks removed


def test_build_from_config_entries():
    built = build_probe_callbacks(
        ["score", {"name": "saturation", "where": nn.Tanh}, {"name": "weight_means"}]
    )
    assert [type(c) for c in built] == [ConvergenceScore, ProbePass, WeightMeans]
    assert isinstance(built[1].probe, probes.Saturation) and built[1].probe.where is nn.Tanh
    assert {"score", "weight_means", "second_moment", "saturation", "residual_delta"} <= set(
        list_probe_callbacks()
    )
    with pytest.raises(ValueError, match=r"train.probes\[1\]: unknown probe callback 'scor'; choose from \["):
        build_probe_callbacks(["score", "scor"])
    with pytest.raises(
        ValueError, match=r"train.probes\[0\] \(score\): .*unexpected keyword argument 'layers'"
    ):
        build_probe_callbacks([{"name": "score", "layers": 3}])
    with pytest.raises(ValueError, match="already registered"):
        register_probe_callback("score", ConvergenceScore)


def test_runner_builds_the_configured_probes(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(96, 1, 28, 28, generator=g), torch.randint(0, 10, (96,), generator=g)
    data = SimpleNamespace(train=TensorDataset(x[:64], y[:64]), test=TensorDataset(x[64:], y[64:]),
                           num_classes=10, input_shape=(1, 28, 28))  # fmt: skip
    config = load_config(
        {
            "model": {"name": "lenet5", "act": "relu"},
            "data": {"batch_size": 16, "eval_batch_size": 8},
            "train": {
                "epochs": 2,
                "out_dir": None,
                "progress": "none",
                "probe_samples": 20,
                "probes": ["score", "weight_means"],
            },
        }
    )
    store = ResultsStore(tmp_path / "r.sqlite")
    result = train(config, store, data=data)
    last = result.history[-1]
    assert {"score", "rho/features.1", "weight_mean/features.0.weight"} <= set(last)
    model = result.model.eval()
    probe_x = x[64:84]  # the first 20 test samples (no normalisation: the data has no mean/std)
    assert last["score"] == pytest.approx(probes.convergence_score(model, probe_x)[0], rel=1e-9)
    assert store.history(result.run_id)[-1]["score"] == last["score"]
    assert not math.isnan(last["weight_mean/classifier.5.weight"])
