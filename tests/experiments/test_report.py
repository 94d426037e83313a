"""The report from a small synthetic results store (``synth_store``, written by the real ResultsStore)."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from normact.experiments import (
    build_report,
    collect_runs,
    get_preset,
    render_markdown,
    report_all,
    write_report,
)
from normact.experiments.report import markdown_table
from normact.train import ResultsStore, config_hash, config_to_dict

from .conftest import FIRST


def test_collect_runs_matches_config_hashes(synth_store, synth_preset):
    preset = get_preset(synth_preset)
    runs = collect_runs(preset, "s", synth_store)
    assert {v: [r.seed for r in rs] for v, rs in runs.runs.items()} == {
        "relu": [0, 1, 2], "nrelu": [0, 1, 2], "swish": [0, 1], "nswish": [0, 1, 2]
    }  # fmt: skip
    assert runs.missing == {"swish": [(2, "failed")]}
    assert runs.n_runs == 11 and runs.epochs == 4 and runs.seeds == [0, 1, 2]
    acc = runs.series("relu", "test_acc")
    assert acc.shape == (3, 4) and np.isnan(acc[2, 2:]).all() and acc[2, 1] == 0.7
    assert runs.compute_seconds == pytest.approx(1.5 * (4 * 10 + 2))
    assert set(runs.family("nrelu", "weight_mean/")) == {"a.weight", "b.weight"}


def test_collect_runs_counts_extra_seeds_of_the_same_scale_only(synth_store, synth_preset):
    preset = get_preset(synth_preset)
    db = ResultsStore(synth_store)
    nrelu3 = preset.sweep("s", 4).configs()[7]  # variant order relu, nrelu, ...: nrelu seed 3
    assert (nrelu3.variant, nrelu3.train.seed) == ("nrelu", 3)
    other = preset.sweep("s", 10, {"train.epochs": 9}).configs()[9]  # seed 9 of another configuration
    for cfg in (nrelu3, other):
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        db.log_epoch(run_id, 1, {"test_acc": 0.95})
        db.finish_run(run_id, "finished")
    runs = collect_runs(preset, "s", synth_store)  # seed 3 is exploratory: listed, never judged
    assert runs.seeds == [0, 1, 2] and [r.seed for r in runs.runs["nrelu"]] == [0, 1, 2]
    assert runs.exploratory == {"nrelu": [3]} and runs.missing == {"swish": [(2, "failed")]}
    assert "exploratory runs outside the scale's seeds (NReLU seeds 3)" in runs.status_text(preset.label)
    only = collect_runs(preset, "s", synth_store, seeds=2)
    assert only.seeds == [0, 1] and only.n_runs == 8 and only.missing == {}
    assert only.exploratory == {"relu": [2], "nrelu": [2, 3], "nswish": [2]}


def _row(label, best, first, columns=(1, 2, 4), runs=None):
    """The Table 1 row computed by hand: t interval for the mean, [min, max] for the median of 2-3 runs."""
    best = np.array(best)
    half = sps.t.ppf(0.975, len(best) - 1) * best.std(ddof=1) / math.sqrt(len(best))
    mean = f"{100 * best.mean():.2f} [{100 * (best.mean() - half):.2f}, {100 * (best.mean() + half):.2f}]"
    median = f"{100 * np.median(best):.2f} [{100 * best.min():.2f}, {100 * best.max():.2f}]"
    under = [sum(f > c for f in first) for c in columns]
    return f"| {label} | {mean} | {median} | " + " | ".join(map(str, under)) + f" | {runs or len(best)} |"


def test_table1_values_by_hand(synth_store, synth_preset):
    text = render_markdown(build_report(synth_preset, "s", synth_store))
    assert _row("ReLU", [0.8, 0.91, 0.7], FIRST["relu"]) in text
    assert _row("NReLU", [0.94, 0.95, 0.92], FIRST["nrelu"]) in text
    assert _row("Swish", [0.96, 0.9], FIRST["swish"]) in text
    assert _row("NSwish", [0.9, 0.97, 0.91], FIRST["nswish"]) in text
    assert (
        "| NReLU | 93.67 [89.87, 97.46] | 94.00 [92.00, 95.00] | 1 | 0 | 0 | 3 |" in text
    )  # one spelled out
    assert "**1 run is missing** and left out: Swish: seed 2 (failed)" in text
    assert "Diverged runs (seed, epoch): ReLU 2 (epoch 3)." in text
    assert "| ReLU-GPN | 87.50 | 98.91 | 14 | 7 | 6 | 5 | 5 |" in text  # the paper's row, as printed


def test_a_run_diverged_in_its_first_epoch_counts_only_as_a_failure(synth_store, synth_preset):
    cfg = get_preset(synth_preset).sweep("s").configs()[11]
    assert (cfg.variant, cfg.train.seed) == ("nswish", 2)
    db = ResultsStore(synth_store)
    run_id = db.start_run(
        study=cfg.study,
        variant=cfg.variant,
        seed=cfg.train.seed,
        config_hash=config_hash(cfg),
        config=config_to_dict(cfg),
    )  # fmt: skip (drops metrics)
    db.finish_run(run_id, "diverged", diverged_epoch=1)
    rep = build_report(synth_preset, "s", synth_store)
    text = render_markdown(rep)
    assert _row("NSwish", [0.9, 0.97], [1, 2, math.inf], runs=3) in text
    score = next(v for v in rep.verdicts if v.claim.startswith("The Score"))
    assert "NSwish 0.425 / 2" in score.evidence and "over 4 arms" in score.evidence  # its Score left out


def test_verdicts_on_the_synthetic_runs(synth_store, synth_preset):
    rep = build_report(synth_preset, "s", synth_store)
    verdicts = {v.claim: v for v in rep.verdicts}
    assert len(verdicts) == 7
    faster = verdicts["NReLU converges faster than ReLU"]
    # complete separation of 3 against 3 runs: p = 1 / C(6, 3) = 0.05, not below alpha
    assert faster.status == "inconclusive" and faster.p_for == pytest.approx(0.05)
    assert "NReLU [1, 1, 2], ReLU [∞, 3, ∞]" in faster.evidence
    assert faster.confounded.startswith("initialisations differ")
    fails = verdicts["NReLU fails less often than ReLU"]
    p = sps.fisher_exact([[0, 3], [2, 1]], alternative="less").pvalue
    assert fails.status == "inconclusive" and fails.p_for == pytest.approx(p)
    assert "NReLU 0/3 runs, ReLU 2/3" in fails.evidence
    score = verdicts["The Score (eq. 22) is inversely related to the speed of convergence"]
    # one point per activation: the medians of its runs' Score and epochs to the threshold
    x = [2.5, 0.6, 2.25, 0.45]  # ReLU: the diverged run has no Score to rank (left out)
    y = [math.inf, 1, 2.5, 2]
    rho = sps.spearmanr(x, y).statistic
    perms = [sps.spearmanr(x, [y[i] for i in p]).statistic for p in itertools.permutations(range(4))]
    assert f"rho = {rho:.3f} over 4 arms" in score.evidence
    assert score.p_for == pytest.approx(np.mean(np.array(perms) >= rho - 1e-12))
    weights = verdicts["NReLU keeps the weight means closer to zero than ReLU (Fig. 4)"]
    # last values: NReLU |E W| 0.01, 0.002, 0.004 against ReLU 0.02, 0.03 and, diverged, the worst value
    assert weights.p_for == pytest.approx(0.05) and "ReLU [0.0200, 0.0300, ∞]" in weights.evidence
    assert all(
        v.p_holm >= max(v.p_for, v.p_against) or v.p_holm >= min(v.p_for, v.p_against) for v in rep.verdicts
    )


def test_write_report_files(synth_store, synth_preset, tmp_path):
    rep = build_report(synth_preset, "s", synth_store)
    path = write_report(rep, tmp_path / "out")
    assert path == tmp_path / "out" / "report.md"
    assert path.read_text() == render_markdown(rep)
    for name in ("figure3", "figure4", "score_vs_speed"):
        png = tmp_path / "out" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name}.png)" in path.read_text()


def test_report_all_writes_an_overview(synth_store, synth_preset):
    reports, overview = report_all(synth_store)
    assert overview == synth_store.parent / "overview.md"
    assert [r.preset for r in reports] == [synth_preset]
    text = overview.read_text()
    assert f"[{synth_preset}]({synth_preset}/s/report.md)" in text
    assert text.count(f"| [{synth_preset}]") == 1 + 7  # its row in the table of reports, one per verdict
    assert (synth_store.parent / synth_preset / "s" / "report.md").is_file()
    assert (synth_store.parent / "overview.png").read_bytes()[:4] == b"\x89PNG"


def test_report_without_runs_says_what_to_run(tmp_path, synth_preset):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_report(synth_preset, "s", tmp_path / "none.sqlite")
    ResultsStore(tmp_path / "empty.sqlite").runs()
    with pytest.raises(ValueError, match=f"no complete run .*normact reproduce {synth_preset} --scale s"):
        build_report(synth_preset, "s", tmp_path / "empty.sqlite")


def test_markdown_table():
    assert markdown_table(["a", "b|c"], [[1, "x|y"]]) == "| a | b\\|c |\n| :--- | ---: |\n| 1 | x\\|y |"
    with pytest.raises(ValueError, match="2 columns"):
        markdown_table(["a", "b"], [[1]])
