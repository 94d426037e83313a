import math

import pytest

from normact.experiments import stats
from normact.experiments.verdict import ALPHA, Verdict, decide, format_p


def _speed_verdict(normalized, base):
    """The rule applied to 'normalized converges faster' with the rank-sum test, as presets do."""
    return decide(
        "N converges faster than B",
        stats.rank_sum_test(normalized, base, "less"),
        stats.rank_sum_test(normalized, base, "greater"),
        "epochs to threshold",
        stats.n_for_rank_sum(stats.probability_of_superiority(normalized, base)),
    )


def test_clear_win_supports():
    v = _speed_verdict([1, 1, 2, 1, 2], [5, 6, math.inf, 7, 6])
    assert v.status == "supports"
    assert "p = 0.00397 for the claim" in v.evidence  # 1 / C(10, 5): complete separation
    assert "would give" not in v.evidence


def test_clear_loss_contradicts():
    v = _speed_verdict([5, 6, math.inf, 7, 6], [1, 1, 2, 1, 2])
    assert v.status == "contradicts"
    assert "p = 0.00397 against" in v.evidence


def test_tie_is_inconclusive_and_says_more_runs_would_not_help():
    v = _speed_verdict([3, 3, 4, 3, 3], [3, 3, 4, 3, 3])
    assert v.status == "inconclusive"
    assert "p = 0.778 for the claim, p = 0.778 against" in v.evidence  # symmetric: no direction
    assert "No effect in the claim's direction" in v.evidence


def test_small_effect_is_inconclusive_with_a_sample_size():
    v = _speed_verdict([2, 3, 3, 4, 5], [3, 3, 4, 5, 5])
    assert v.status == "inconclusive"
    p_sup = stats.probability_of_superiority([2, 3, 3, 4, 5], [3, 3, 4, 5, 5])
    assert f"about {math.ceil(stats.n_for_rank_sum(p_sup))} runs per group" in v.evidence


def test_rule_thresholds():
    assert decide("c", ALPHA * 0.99, 0.9, "e").status == "supports"
    assert decide("c", ALPHA, 0.9, "e").status == "inconclusive"  # p must be below alpha
    assert decide("c", 0.9, 0.01, "e").status == "contradicts"
    assert "more than 1000 pairs" in decide("c", 0.4, 0.6, "e", 5000.0, "pairs").evidence


def test_verdict_status_is_checked_and_p_values_format():
    with pytest.raises(ValueError, match="must be one of"):
        Verdict("c", "maybe", "e")
    assert format_p(3e-5) == "p < 1e-4"
    assert format_p(0.04321) == "p = 0.0432"
