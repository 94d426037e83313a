"""The judge on synthetic stores: every kind of claim, against scipy, statsmodels or brute force."""

import itertools
import math

import numpy as np
import pytest
import yaml
from scipy import stats as sps

from normact.experiments import build_report, collect_runs, get_preset, load_preset, register_preset
from normact.experiments.report import render_markdown
from normact.train import ResultsStore, config_hash, config_to_dict

VARIANTS = {"a": {"model.act": "relu"}, "b": {"model.act": "tanh"}, "c": {"model.act": "elu"},
            "d": {"model.act": "selu"}, "e": {"model.act": "relu", "optim.lr": 0.5}}  # fmt: skip
METRICS = {
    "acc": {"key": "acc", "reduce": "last", "better": "higher", "scale": 100, "digits": 2},
    "start": {"key": "acc", "reduce": "first"},
    "never": {"key": "acc", "reduce": "never_reaching", "threshold": 0.5, "better": "lower", "digits": 0},
    "size": {"key": "size", "reduce": "last"},
}
CLAIMS = [
    {"text": "independent", "metric": "acc", "arms": ["a", "b"], "direction": "greater", "test": "rank_sum"},
    {"text": "counts", "metric": "never", "arms": ["b", "a"], "direction": "greater", "test": "fisher"},
    {"text": "paired", "metric": "acc", "arms": ["c", "a"], "direction": "greater", "test": "signed_rank"},
    {"text": "before-after", "metric": "acc", "baseline": "start", "arms": ["a"], "direction": "greater",
     "test": "signed_rank"},
    {"text": "over arms", "metric": "acc", "x": "size", "arms": ["a", "b", "c", "d"], "unit": "arm",
     "direction": "less", "test": "spearman"},
    {"text": "trend", "metric": "acc", "x": {"values": {"a": 1, "b": 2, "c": 3}}, "arms": ["a", "b", "c"],
     "unit": "run", "direction": "less", "test": "spearman"},
    {"text": "confounded", "metric": "acc", "arms": ["e", "a"], "direction": "greater", "test": "rank_sum",
     "confounded": "learning rates differ (0.5 against 0.1)"},
    {"text": "left out", "metric": "acc", "arms": ["a", "d"], "direction": "greater", "test": "rank_sum",
     "diverged": "exclude"},
]  # fmt: skip
# variant -> per seed: acc per epoch, size; a run whose acc ends early diverged after it
RUNS = {
    "a": [([0.3, 0.60], 5.0), ([0.2, 0.62], 6.0), ([0.4, 0.58], 5.5), ([0.1, 0.61], 7.0), ([0.3, 0.59], 6.5)],
    "b": [([0.2, 0.40], 1.0), ([0.3, 0.45], 2.0), ([0.2], 1.5), ([0.4, 0.44], 2.5), ([0.1, 0.30], 0.5)],
    "c": [([0.3, 0.63], 9.0), ([0.2, 0.65], 8.0), ([0.4, 0.57], 9.5), ([0.1, 0.66], 8.5), ([0.3, 0.64], 9.9)],
    "d": [([0.2, 0.50], 3.0), ([0.3, 0.52], 4.0), ([0.2], 3.5), ([0.1, 0.55], 4.5), ([0.3, 0.51], 3.2)],
    "e": [([0.5, 0.70], 5.0), ([0.5, 0.71], 5.0), ([0.5, 0.69], 5.0), ([0.5, 0.72], 5.0), ([0.5, 0.73], 5.0)],
}  # fmt: skip


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("judge")
    spec = {"name": "test-judge", "paper": "p", "title": "t", "config": {"model": {"name": "mlp"}},
            "variants": VARIANTS, "scales": {"s": {"seeds": 5, "minutes": 1, "config": {"train.epochs": 2}}},
            "metrics": METRICS, "claims": CLAIMS}  # fmt: skip
    (tmp / "p.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    if "test-judge" not in {p for p in _names()}:
        register_preset(load_preset(tmp / "p.yaml"))
    preset = get_preset("test-judge")
    db = ResultsStore(tmp / "r.sqlite")
    for cfg in reversed(preset.sweep("s", 6).configs()):  # stored out of order; seed 5: exploratory
        acc, size = RUNS[cfg.variant][cfg.train.seed % 5]
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        if cfg.train.seed == 5:
            acc = [0.0, 0.0]  # an exploratory seed that would change every verdict if it were counted
        for epoch, value in enumerate(acc, 1):
            db.log_epoch(run_id, epoch, {"acc": value, "size": size})
        if len(acc) == 2:
            db.finish_run(run_id, "finished")
        else:
            db.finish_run(run_id, "diverged", diverged_epoch=len(acc) + 1)
    report = build_report("test-judge", "s", db.path)
    return {v.claim: v for v in report.verdicts}, report, collect_runs(preset, "s", db.path)


def _names():
    from normact.experiments import list_presets

    return list_presets()


def _last(v):
    return [acc[-1] if len(acc) == 2 else -math.inf for acc, _ in RUNS[v]]


def test_independent_arms_get_the_exact_rank_sum_test(judged):
    verdicts, _, _ = judged
    v = verdicts["independent"]
    a, b = _last("a"), _last("b")  # b's seed 2 diverged: the worst accuracy
    assert v.p_for == pytest.approx(sps.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue)
    assert v.p_for == pytest.approx(1 / math.comb(10, 5)) and v.status == "supports"
    assert "b [40.00, 45.00, -∞, 44.00, 30.00]" in v.evidence and v.diverged == "worst"


def test_counts_get_fishers_exact_test(judged):
    v = judged[0]["counts"]
    # never reaching 0.5: b all five runs (one diverged), a none
    assert v.p_for == pytest.approx(sps.fisher_exact([[5, 0], [0, 5]], alternative="greater").pvalue)
    assert "b 5/5 runs, a 0/5" in v.evidence


def test_arms_that_share_seeds_get_a_paired_test(judged):
    v = judged[0]["paired"]
    c, a = _last("c"), _last("a")
    expected = sps.wilcoxon(c, a, alternative="greater", method="exact").pvalue
    assert v.p_for == pytest.approx(expected) and "signed-rank test on 5 pairs" in v.evidence
    # paired by seed although stored in reverse order: 4 of 5 differences positive, one negative
    assert sum(x > y for x, y in zip(c, a, strict=True)) == 4


def test_the_same_runs_before_and_after_are_paired(judged):
    v = judged[0]["before-after"]
    after, before = _last("a"), [acc[0] for acc, _ in RUNS["a"]]
    assert v.p_for == pytest.approx(sps.wilcoxon(after, before, alternative="greater").pvalue)
    assert v.p_for == pytest.approx(1 / 32)


def test_a_correlation_of_two_measured_numbers_is_over_the_arms_medians(judged):
    v = judged[0]["over arms"]
    x = [np.median([s for _, s in RUNS[k]]) for k in "abcd"]
    y = [np.median(_last(k)) for k in "abcd"]
    rho = sps.spearmanr(x, y).statistic
    perms = [sps.spearmanr(x, [y[i] for i in p]).statistic for p in itertools.permutations(range(4))]
    assert f"rho = {rho:.3f} over 4 arms (their medians)" in v.evidence
    assert v.p_for == pytest.approx(np.mean(np.array(perms) <= rho + 1e-12))
    assert v.p_against == pytest.approx(np.mean(np.array(perms) >= rho - 1e-12))


def test_a_trend_over_a_factor_fixed_per_arm_permutes_the_runs(judged):
    v = judged[0]["trend"]
    x = [1] * 5 + [2] * 5 + [3] * 5
    y = _last("a") + _last("b") + _last("c")
    rho = sps.spearmanr(x, y).statistic
    rng = np.random.default_rng(1)  # 15! orders: compare with a Monte Carlo estimate of the same p
    sample = [sps.spearmanr(x, rng.permutation(y)).statistic for _ in range(4000)]
    assert f"rho = {rho:.3f} over 15 runs (x fixed per arm)" in v.evidence
    assert v.p_against == pytest.approx(np.mean(np.array(sample) >= rho - 1e-12), abs=0.02)


def test_a_confounded_claim_says_so_beside_its_verdict(judged):
    verdicts, report, _ = judged
    v = verdicts["confounded"]
    assert v.status == "supports" and v.confounded == "learning rates differ (0.5 against 0.1)"
    row = next(line for line in render_markdown(report).splitlines() if line.startswith("| confounded |"))
    assert "**supports** (confounded)" in row and "Confounded: learning rates differ" in row


def test_a_claim_may_leave_diverged_runs_out(judged):
    v = judged[0]["left out"]
    d = [x for x in _last("d") if x > -math.inf]  # d's seed 2 diverged
    assert v.diverged == "exclude" and "d [50.00, 52.00, –, 55.00, 51.00]" in v.evidence
    assert v.p_for == pytest.approx(sps.mannwhitneyu(_last("a"), d, alternative="greater").pvalue)


def test_exploratory_seeds_never_change_a_verdict(judged):
    verdicts, report, runs = judged
    assert runs.exploratory == {v: [5] for v in VARIANTS} and runs.seeds == [0, 1, 2, 3, 4]
    assert "exploratory runs outside the scale's seeds" in report.summary
    assert verdicts["independent"].status == "supports"  # seed 5 (accuracy 0 everywhere) left out


def test_holm_over_the_presets_claims(judged):
    verdicts = list(judged[0].values())
    p = np.array([min(v.p_for, v.p_against) for v in verdicts])
    order = np.argsort(p)
    m = len(p)
    by_hand = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):  # Holm's step-down: (m - rank) p, kept monotone, capped at 1
        running = max(running, min(1.0, (m - rank) * p[i]))
        by_hand[i] = running
    assert [v.p_holm for v in verdicts] == pytest.approx(list(by_hand))
    for v in verdicts:
        assert v.adjusted == ("inconclusive" if v.p_holm >= 0.05 else v.status)


def test_a_negative_correlation_in_the_claims_direction_says_how_many_runs_would_settle_it(tmp_path):
    """The sign of rho is taken in the claim's direction (a claim of rho < 0 observed rho < 0)."""
    from normact.experiments.judge import judge_claim

    preset = get_preset("test-judge")
    claim = next(c for c in preset.claims if c.text == "trend")
    store = ResultsStore(tmp_path / "r.sqlite")
    values = {"a": [0.80, 0.74, 0.78, 0.79, 0.77], "b": [0.78, 0.71, 0.76, 0.77, 0.80],
              "c": [0.72, 0.75, 0.74, 0.79, 0.73]}  # fmt: skip
    for cfg in preset.sweep("s").configs():
        if cfg.variant not in values:
            continue
        run_id = store.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                                 config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        store.log_epoch(run_id, 1, {"acc": values[cfg.variant][cfg.train.seed]})
        store.finish_run(run_id, "finished")
    runs = collect_runs(preset, "s", store)
    v = judge_claim(runs, claim)
    rho = sps.spearmanr([1] * 5 + [2] * 5 + [3] * 5, [x for v in values.values() for x in v]).statistic
    assert rho < 0 and v.status == "inconclusive"
    assert "runs would give the test 80% power" in v.evidence and "No effect" not in v.evidence
