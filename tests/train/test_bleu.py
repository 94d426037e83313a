"""Corpus BLEU against a two-sentence corpus counted by hand."""

import math

import pytest

from normact.train.bleu import corpus_bleu, ngram_stats

HYP = ["the cat sat on the mat".split(), "a dog".split()]
REF = ["the cat sat on a mat".split(), "a dog runs fast".split()]


def test_ngram_counts_by_hand():
    # sentence 1: 1-grams 5/6 ("the" twice, clipped to once), 2-grams 3/5, 3-grams 2/4, 4-grams 1/3;
    # sentence 2: 1-grams 2/2, 2-grams 1/1, no 3- or 4-grams
    assert ngram_stats(HYP, REF) == ([7, 4, 2, 1], [8, 6, 4, 3], 8, 10)


def test_corpus_bleu_by_hand():
    # precisions summed over the corpus before dividing; brevity penalty exp(1 - 10/8)
    expected = math.exp(1 - 10 / 8) * (7 / 8 * 4 / 6 * 2 / 4 * 1 / 3) ** (1 / 4)
    assert corpus_bleu(HYP, REF) == pytest.approx(expected, rel=1e-12)
    # one sentence of equal length: no penalty, (5/6 * 3/5 * 2/4 * 1/3)^(1/4) = (1/12)^(1/4)
    assert corpus_bleu(HYP[:1], REF[:1]) == pytest.approx((1 / 12) ** 0.25, rel=1e-12)


def test_corpus_bleu_edge_cases():
    assert corpus_bleu(REF, REF) == 1.0
    longer = [[*r, "extra"] for r in REF]  # longer than the references: no brevity penalty, lower precision
    assert corpus_bleu(longer, REF) < 1.0
    assert corpus_bleu([["a", "b", "c"]], [["a", "b", "c", "d"]]) == 0.0  # no 4-gram matches: no smoothing
    assert corpus_bleu([[]], [["a"]]) == 0.0
    assert corpus_bleu([[1, 2, 3, 4]], [[1, 2, 3, 4]]) == 1.0  # any hashable tokens, e.g. ids
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        corpus_bleu(HYP, REF[:1])
