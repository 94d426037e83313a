"""synthetic_translation: hand-made sentences rendered by the transfer rules, the rules checked on
generated pairs by parsing the target with the lexicon, seeds, disjoint splits and bad options."""

import pytest

from normact.data import load_dataset
from normact.data.subword import SubwordVocab
from normact.data.synthetic_translation import (
    ADJECTIVES,
    NOUNS,
    VERBS,
    Clause,
    NounPhrase,
    Sentence,
    generate_pairs,
    render_source,
    render_target,
)

TARGET_NOUNS = {target: gender for target, gender in NOUNS.values()}
TARGET_ADJECTIVES = set(ADJECTIVES.values())
TARGET_VERBS = set(VERBS.values())


def test_hand_made_sentences():
    dog = NounPhrase("the", False, ("big",), "dog")
    apples = NounPhrase("some", True, ("red", "old"), "apple")
    first = Clause(dog, "like", "past", apples, adverb="yesterday")
    garden = NounPhrase("a", False, (), "garden")
    second = Clause(NounPhrase("two", True, (), "cat"), "watch", "present", dog, True, ("in", garden))
    sentence = Sentence(first, "because", second)
    assert render_source(sentence) == (
        "yesterday the big dog liked some red old apples "
        "because two cats never watch the big dog in a garden."
    )
    # verb second after the adverb; "some" has no word; adjectives after the noun, agreeing with it;
    # the subordinate clause verb-final with ne before the verb; in -> a postposition; accusative objects
    assert render_target(sentence) == (
        "heri amis lo boran groso pomeri rudai vetai porke du mikeli lu boran groso une hort ine ne spektan."
    )
    main = Sentence(Clause(NounPhrase("a", False, ("old",), "apple"), "push", "present", dog), "and",
                    Clause(NounPhrase("the", True, (), "town"), "help", "past", garden))  # fmt: skip
    assert render_source(main) == "an old apple pushes the big dog and the towns helped a garden."
    assert render_target(main) == "una pomer veta pusas lu boran groso e lon urben jutin une hort."


def _verb(word):
    """(stem, ending) when ``word`` is a target verb form, else None."""
    for ending in ("as", "an", "is", "in"):
        if word.endswith(ending) and word[: -len(ending)] in TARGET_VERBS:
            return word[: -len(ending)], ending
    return None


def _noun(word):
    """(gender, plural) when ``word`` is a target noun form, else None."""
    if word in TARGET_NOUNS:
        return TARGET_NOUNS[word], False
    for suffix, gender in (("i", "a"), ("en", "b")):
        if word.endswith(suffix) and TARGET_NOUNS.get(word[: -len(suffix)]) == gender:
            return gender, True
    return None


def test_the_transfer_rules_hold_on_generated_pairs():
    sources, targets = generate_pairs(400, seed=3, min_words=5, max_words=32)
    seen = set()
    for source, target in zip(sources, targets, strict=True):
        src, tgt = source[:-1].split(), target[:-1].split()
        assert source.endswith(".") and target.endswith(".")
        assert len(tgt) == len(src) - src.count("some")  # one word each, but "some"
        # every adjective follows its noun (or another adjective) and agrees with that noun
        noun = None
        for word in tgt:
            if _noun(word):
                noun = _noun(word)
            elif word[:-1] in TARGET_ADJECTIVES or word[:-2] in TARGET_ADJECTIVES:
                expected = {("a", False): "a", ("a", True): "ai", ("b", False): "o", ("b", True): "on"}[noun]
                assert word.endswith(expected) and word[: -len(expected)] in TARGET_ADJECTIVES, (word, target)
                seen.add("adjective")
            else:
                noun = None  # anything else ends the noun phrase
        if src[0] in ("yesterday", "today"):  # verb second, the tense of the adverb
            assert _verb(tgt[1])[1] in (("is", "in") if src[0] == "yesterday" else ("as", "an")), target
            seen.add("adverb")
        for conjunction, word in (("because", "porke"), ("while", "dum")):
            if conjunction in src:  # the subordinate clause is verb-final, its subject fixes the number
                before = src[: src.index(conjunction)]
                assert _verb(tgt[-1]) and tgt.index(word) == len(before) - before.count("some"), target
                subject = next(_noun(w) for w in tgt[tgt.index(word) + 1 :] if _noun(w))
                assert _verb(tgt[-1])[1] in (("an", "in") if subject[1] else ("as", "is")), target
                seen.add("verb-final")
        assert src.count("never") == tgt.count("ne")
    assert seen == {"adjective", "adverb", "verb-final"}  # every rule was exercised


def test_same_seed_same_data_and_disjoint_splits():
    options = {"num_train": 300, "num_test": 50, "max_words": 10}
    a = load_dataset("synthetic_translation", seed=1, **options)
    b = load_dataset("synthetic_translation", seed=1, **options)
    c = load_dataset("synthetic_translation", seed=2, **options)
    assert a.references == b.references and a.references != c.references
    assert all(x.equal(y) for x, y in zip(a.train.tensors + a.test.tensors, b.train.tensors + b.test.tensors))
    assert len(a.train) == 300 and len(a.test) == 50 and a.name == "synthetic_translation"
    eos = a.vocab.stoi["<eos>"]

    def sources(split):
        return {a.vocab.to_text(row[: row.index(eos)]) for row in split.tensors[0].tolist()}

    train, test = sources(a.train), sources(a.test)
    assert len(train) == 300 and len(test) == 50 and not train & test
    assert all(5 <= len(s.split()) - 1 <= 10 for s in train | test)  # words, then the token "."
    more = load_dataset("synthetic_translation", seed=1, **{**options, "num_train": 400})
    assert more.references == a.references  # the test split does not depend on num_train


def test_subword_pieces_round_trip():
    data = load_dataset("synthetic_translation", num_train=200, num_test=20, tokenizer="bpe", max_vocab=300)
    vocab = data.target_vocab
    assert isinstance(vocab, SubwordVocab) and len(vocab) <= 304
    eos = vocab.stoi["<eos>"]
    texts = [vocab.to_text(row[1 : row.index(eos)]) for row in data.test.tensors[1].tolist()]
    assert texts == list(data.references)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_train": 0}, r"num_train must be an int >= 1, got 0"),
        ({"num_test": 2.5}, r"num_test must be an int >= 1, got 2\.5"),
        ({"min_words": 3}, r"min_words must be an int in \[5, 32\], got 3"),
        ({"min_words": 8, "max_words": 7}, r"max_words must be an int in \[8, 32\], got 7"),
        ({"max_words": 40}, r"max_words must be an int in \[5, 32\], got 40"),
        ({"seed": "one"}, r"seed must be an int, got 'one'"),
        ({"tokenizer": "spm"}, r"synthetic_translation: unknown tokenizer 'spm'"),
        ({"tokenizer": "bpe"}, r"synthetic_translation: max_vocab must be a number of subword pieces"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("synthetic_translation", **{"num_train": 20, "num_test": 5, **options})


def test_a_range_too_narrow_for_the_sizes():
    with pytest.raises(ValueError, match=r"gave only 0 distinct sentences of min_words=32 to max_words=32"):
        load_dataset("synthetic_translation", num_train=1, num_test=1, min_words=32, max_words=32)
