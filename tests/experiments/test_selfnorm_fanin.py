"""selfnorm-fanin: configs, a tiny real run end to end, the verdict against scipy on a synthetic store."""

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from normact.experiments import Scale, build_report, get_preset, list_presets, register_preset, reproduce
from normact.probes import fan_in
from normact.probes.callbacks import MuFanIn
from normact.train import ResultsStore, config_hash, config_to_dict
from normact.train.loop import build_model

CLAIM = "Layers with a larger fan-in have a larger mu * N_{l-1} (Fig. 7)"


def _tiny(name: str, epochs: int = 1) -> str:
    if name not in list_presets():
        base = get_preset("selfnorm-fanin")
        scale = Scale(
            "s", seeds=2, minutes=0.1,
            config={"data.name": "digits", "model.kwargs.depth": 8, "train.epochs": epochs,
                    "data.options": {"train_size": 256, "test_size": 64}},
            variant_config={"x1": {"model.kwargs.width": 0.25}, "x2": {"model.kwargs.width": 0.5},
                            "x4": {"model.kwargs.width": 1.0}},
            analysis={"input_shape": [1, 8, 8]},
        )  # fmt: skip
        register_preset(dataclasses.replace(base, name=name, scales={"s": scale}))
    return name


def test_widths_scale_every_fan_in():
    preset = get_preset("selfnorm-fanin")
    fans = {}
    for cfg in preset.sweep("cpu", 1).configs():
        model = build_model(cfg.model, 10, (1, 8, 8))
        assert type(model.stage1.conv1.act).__name__ == "DSELU" and len(list(model.stage3)) == 10
        fans[cfg.variant] = [fan_in(p) for n, p in model.named_parameters() if n.endswith("layer.weight")]
    assert [b // a for a, b in zip(fans["x1"][1:], fans["x4"][1:], strict=True)] == [4] * 30
    assert {c.model.kwargs["width"] for c in preset.sweep("full", 1).configs()} == {1.0, 2.0, 4.0}


def test_tiny_real_run_end_to_end(tmp_path):
    result = reproduce(
        _tiny("test-fanin-tiny"), "s", seeds=1, store=tmp_path / "r.sqlite", out=tmp_path / "out"
    )
    assert [i.status for i in result.items] == ["finished"] * 3
    text = (tmp_path / "out" / "report.md").read_text()
    assert CLAIM in text and "| x4 | " in text and "runs.csv" not in text
    assert (tmp_path / "out" / "figure7.png").is_file()


def test_verdict_against_scipy(tmp_path):
    name = _tiny("test-fanin-synth", epochs=3)
    preset = get_preset(name)
    path = tmp_path / "r.sqlite"
    db = ResultsStore(path)
    rng = np.random.default_rng(0)
    finals = {}
    for cfg in preset.sweep("s").configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        k = {"x1": 1, "x2": 2, "x4": 4}[cfg.variant]
        layers = [
            "stem.layer.weight",
            "stage1.conv1.layer.weight",
            "stage2.conv1.layer.weight",
            "head.weight",
        ]
        for epoch in (1, 2, 3):
            values = rng.uniform(0.1, 0.2, len(layers)) * k * epoch
            db.log_epoch(run_id, epoch, {f"mu_fan_in/{n}": v for n, v in zip(layers, values, strict=True)})
        finals.setdefault(cfg.variant, []).append(dict(zip(layers, values, strict=True)))
        db.finish_run(run_id, "finished")
    rep = build_report(name, "s", path)
    (verdict,) = rep.verdicts
    # the claim's number: median over layers of (last epoch - the run's own initial value), the initial
    # network rebuilt here as the runner builds it
    change = []
    for cfg in preset.sweep("s").configs():
        torch.manual_seed(cfg.train.seed)
        init = MuFanIn().on_epoch_end(build_model(cfg.model, 10, (1, 8, 8)), 0, [])
        last = finals[cfg.variant][cfg.train.seed]
        change.append(float(np.median([last[n] - init[f"mu_fan_in/{n}"] for n in last])))
    k = [1, 1, 2, 2, 4, 4]
    rho = sps.spearmanr(k, change).statistic
    perms = [sps.spearmanr(k, [change[i] for i in p]).statistic for p in itertools.permutations(range(6))]
    assert f"rho = {rho:.3f} over 6 runs" in verdict.evidence
    assert verdict.p_for == pytest.approx(np.mean(np.array(perms) >= rho - 1e-12))
    assert verdict.status == ("supports" if verdict.p_for < 0.05 else "inconclusive")
    # x1 at width 0.25, depth 8: filters 4 (stem, stage 1), 8, 16 and the head's 10 outputs
    expected = np.median([math.sqrt(2 / math.pi) / math.sqrt(c) for c in (4, 4, 4, 8, 8, 16, 16, 10)])
    assert f"| x1 | {expected:.4f} |" in rep.sections[1].body
