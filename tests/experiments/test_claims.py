"""The claim spec: a preset's claims are checked when it loads, errors naming the preset, claim and field."""

import copy

import pytest
import yaml

from normact.experiments import get_preset, list_presets, load_preset
from normact.experiments.claims import Claim, min_p, parse_claims
from normact.train import ConfigError

SPEC = {
    "name": "spec",
    "paper": "p",
    "title": "t",
    "config": {"model": {"name": "mlp"}},
    "variants": {"a": {"model.act": "relu"}, "b": {"model.act": "tanh"}, "c": {"model.act": "elu"}},
    "scales": {"cpu": {"seeds": 4, "minutes": 1}},
    "metrics": {"acc": {"key": "test_acc", "better": "higher"}, "skew": {"family": "skew/"}},
    "claims": [{"text": "a beats b", "metric": "acc", "arms": ["a", "b"], "direction": "greater",
                "test": "rank_sum"}],
}  # fmt: skip


def _load(tmp_path, claim=None, **change):
    spec = copy.deepcopy(SPEC)
    spec.update(change)
    if claim is not None:
        spec["claims"] = [{**SPEC["claims"][0], **claim}]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_preset(path)


def test_a_valid_spec_loads(tmp_path):
    preset = _load(tmp_path)
    (claim,) = preset.claims
    assert isinstance(claim, Claim) and claim.diverged_policy(preset.metrics["acc"]) == "worst"
    assert preset.metrics["skew"].family == "skew/" and claim.paired is False


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ({"arms": ["a", "z"]}, r"claim 1 \('a beats b'\): arms: unknown variant 'z'"),
        ({"metric": "acc2"}, r"claim 1 \('a beats b'\): metric 'acc2' is not a metric of the preset"),
        ({"test": "t_test"}, r"claim 1 \('a beats b'\): test 't_test' is not one of"),
        ({"direction": "up"}, r"claim 1 \('a beats b'\): direction 'up' is not one of \['greater', 'less'\]"),
        ({"arms": ["a"]}, r"arms: test 'rank_sum' compares exactly two arms, got 1"),
        ({"test": "spearman", "x": "skew", "arms": ["a", "b"], "unit": "arm"},
         r"arms: a correlation needs at least 3 arms, scale 'cpu' has 2"),
        ({"test": "spearman", "x": "skew", "arms": "all"}, "unit: two measured metrics correlate across"),
        ({"test": "signed_rank", "paired": False}, "paired: the signed-rank test is a paired test"),
        ({"test": "fisher"}, "test fisher counts runs: its metric must have reduce never_reaching"),
        ({"metric": "skew", "diverged": "worst"}, "diverged 'worst' needs a metric that says which way"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)  # fmt: skip
def test_bad_claims_name_the_preset_the_claim_and_the_field(tmp_path, claim, message):
    with pytest.raises(ConfigError, match=r"preset 'spec', claim 1.*" + message.split("claim 1")[-1]):
        _load(tmp_path, claim)


def test_a_paired_test_needs_arms_that_share_seeds_and_data(tmp_path):
    variants = {**SPEC["variants"], "b": {"model.act": "tanh", "train.seed": 7}}
    scales = {"cpu": {"seeds": 5, "minutes": 1}}  # 4 pairs could not reach p < 0.05 (1 / 2^4)
    with pytest.raises(ConfigError, match=r"paired: variant 'b' sets train\.seed at scale 'cpu'"):
        _load(tmp_path, {"test": "signed_rank"}, variants=variants, scales=scales)
    assert _load(tmp_path, {"test": "signed_rank"}, scales=scales).claims[0].paired  # same seeds and data


def test_the_seed_rule_names_the_scale_that_cannot_decide(tmp_path):
    scales = {"cpu": {"seeds": 3, "minutes": 1}}
    with pytest.raises(ConfigError, match=r"scale 'cpu' has 3 seeds.*rank_sum test cannot reach p < 0.05 "
                                          r"\(smallest p: 0.05\); raise the scale's seeds"):  # fmt: skip
        _load(tmp_path, scales=scales)
    smoke = {"cpu": {"seeds": 1, "minutes": 1, "verdicts": False}}  # a smoke check judges nothing
    assert _load(tmp_path, scales=smoke).scales["cpu"].verdicts is False


def test_smallest_p_of_each_test():
    metrics = {"acc": None, "skew": None}
    raw = [
        {"text": "r", "metric": "acc", "arms": ["a", "b"], "direction": "less", "test": "rank_sum"},
        {"text": "w", "metric": "acc", "arms": ["a", "b"], "direction": "less", "test": "signed_rank"},
        {"text": "s", "metric": "acc", "x": {"values": {"a": 1, "b": 2, "c": 3}}, "direction": "less",
         "test": "spearman"},
        {"text": "m", "metric": "acc", "x": "skew", "unit": "arm", "direction": "less", "test": "spearman"},
    ]  # fmt: skip
    rank, signed, trend, arms = parse_claims(raw, "p", metrics)
    assert min_p(rank, 4, 2) == pytest.approx(1 / 70) and min_p(rank, 3, 2) == pytest.approx(1 / 20)
    assert min_p(signed, 4, 2) == 1 / 16
    assert min_p(trend, 3, 3) == pytest.approx(6**3 / 362880)  # 9 runs in 3 tied groups
    assert min_p(arms, 4, 4) == pytest.approx(1 / 24) and min_p(arms, 10, 3) == pytest.approx(1 / 6)


def test_every_shipped_claim_can_be_decided_at_every_scale():
    """Loading checked it; the count of claims judged at the cpu scale is that of the committed reports
    (72 over twelve presets); claims of rows only the full scale runs are not judged there."""
    counts = {}
    for name in (n for n in list_presets() if not n.startswith("test-")):
        preset = get_preset(name)
        if "cpu" in preset.scales:
            counts[name] = sum(c.applies(preset.variants_of("cpu")) for c in preset.claims)
    assert sum(counts.values()) == 72
