"""Corpus BLEU (Papineni et al. 2002) on token sequences, one reference per sentence.

``BLEU = BP * exp(mean_n log p_n)`` for n = 1..4, where ``p_n`` is the corpus-level modified n-gram
precision (each hypothesis n-gram counts at most as often as it occurs in its reference; clipped
counts and hypothesis n-gram counts are summed over the corpus before dividing) and the brevity
penalty is ``BP = exp(1 - r / c)`` when the corpus hypothesis length ``c`` is at most the reference
length ``r``, else 1. Without smoothing: any ``p_n = 0`` gives 0, as ``multi-bleu.perl`` does.

Tokens are compared as they are given (ids or strings); tokenisation, casing and detokenisation are
the caller's choice, so the score is comparable only between runs that make the same choices.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

__all__ = ["corpus_bleu", "ngram_stats"]


def _ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_stats(
    hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]], max_n: int = 4
) -> tuple[list[int], list[int], int, int]:
    """Clipped matches and hypothesis n-gram totals per order 1..max_n, and the two corpus lengths."""
    if len(hypotheses) != len(references):
        raise ValueError(f"need one reference per hypothesis, got {len(hypotheses)} and {len(references)}")
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
        for n in range(1, max_n + 1):
            h, r = _ngrams(hyp, n), _ngrams(ref, n)
            matches[n - 1] += sum(min(count, r[g]) for g, count in h.items())
            totals[n - 1] += max(0, len(hyp) - n + 1)
    return matches, totals, hyp_len, ref_len


def corpus_bleu(
    hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]], max_n: int = 4
) -> float:
    """Corpus BLEU in [0, 1] of ``hypotheses`` against one reference each (multiply by 100 for points)."""
    matches, totals, c, r = ngram_stats(hypotheses, references, max_n)
    if c == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / max_n
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return brevity * math.exp(log_precision)
