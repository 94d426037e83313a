"""A generated translation task: a seeded English-like source language and a deterministic transfer.

An offline stand-in for a parallel corpus, small enough for a CPU yet more than word-by-word copying.
Source sentences come from a small grammar: one or two clauses ("and", "but" join two main clauses;
"because", "while" add a subordinate one), each ``[time adverb] subject [never] verb object
[preposition noun-phrase]``; a noun phrase is ``determiner adjective* noun`` with "the", "a" ("an"
before a vowel), "some" or a numeral, singular or plural; verbs agree with their subject ("likes" /
"like") in the present and take "-ed" in the past; "yesterday" and "today" fix the tense. The target
sentence is the same structure rendered by fixed rules:

- words map one to one through a fixed lexicon, except "some", which has no target word;
- nouns have one of two genders (a property of the noun, not of its spelling) and a plural suffix of
  their gender: ``-i`` or ``-en``;
- the article agrees with gender, number and case (subject: nominative; object and the noun phrase of a
  preposition: accusative), and "a" has its own forms; a numeral takes no article;
- adjectives follow their noun and agree with its gender and number (``-a``, ``-ai``, ``-o``, ``-on``);
- the verb ending marks tense and the subject's number (``-as``, ``-an``, ``-is``, ``-in``), so the past
  tense, whose source form is the same in both numbers, needs the subject's number;
- main clauses are verb-second: a leading time adverb moves the verb before the subject; subordinate
  clauses are verb-final; "never" becomes ``ne`` at the end of the clause (before a final verb);
- prepositions become postpositions after their noun phrase.

``generate_pairs`` draws distinct source sentences with a seed; ``load_synthetic_translation`` (the
``synthetic_translation`` dataset) makes them translation splits like ``iwslt``'s
(``normact.data.parallel``): the first ``num_test`` distinct sentences are the test split, the next
``num_train`` the training split, so the splits share no source sentence and the test split does not
change with ``num_train``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from normact.data.parallel import Pairs, parallel_splits
from normact.data.splits import DatasetSpec, DataSplits, Subset

__all__ = [
    "NOUNS",
    "Clause",
    "NounPhrase",
    "Sentence",
    "generate_pairs",
    "load_synthetic_translation",
    "render_source",
    "render_target",
]

# source noun -> (target noun, gender "a" or "b"); genders are not guessable from the spelling
NOUNS = {
    "cat": ("mikel", "a"), "dog": ("boran", "b"), "bird": ("tilp", "a"), "horse": ("kavor", "b"),
    "girl": ("nen", "b"), "farmer": ("dulm", "a"), "teacher": ("sopar", "a"), "doctor": ("medik", "b"),
    "king": ("reg", "a"), "queen": ("renal", "b"), "friend": ("amik", "b"), "student": ("diskel", "a"),
    "apple": ("pomer", "a"), "book": ("libr", "b"), "house": ("kasem", "b"), "river": ("fluv", "a"),
    "tree": ("arb", "b"), "car": ("vetur", "a"), "letter": ("kart", "a"), "song": ("kantel", "b"),
    "garden": ("hort", "a"), "town": ("urb", "b"), "boat": ("navil", "b"), "stone": ("petr", "a"),
}  # fmt: skip
ADJECTIVES = {
    "big": "gros", "small": "pik", "red": "rud", "old": "vet", "young": "jun", "happy": "fel",
    "green": "verd", "dark": "ner", "fast": "rap", "quiet": "tak", "tall": "alt", "strange": "strel",
}  # fmt: skip
VERBS = {  # regular source verbs: 3rd person singular + "s", past + "(e)d"
    "like": "am", "help": "jut", "follow": "seg", "visit": "vizit", "call": "vok", "paint": "pint",
    "greet": "salut", "want": "vol", "love": "kor", "kick": "bat", "watch": "spekt", "push": "pus",
}  # fmt: skip
NUMERALS = {"two": "du", "three": "tri", "four": "kvar", "five": "kvin"}
PREPOSITIONS = {"in": "ine", "near": "pres", "behind": "post", "with": "kun"}
COORDINATORS = {"and": "e", "but": "sed"}  # two main clauses
SUBORDINATORS = {"because": "porke", "while": "dum"}  # a main clause, then a verb-final one
ADVERBS = {"yesterday": ("heri", "past"), "today": ("hodie", "present")}
NEVER = ("never", "ne")

GENDER_PLURAL = {"a": "i", "b": "en"}
ADJECTIVE_ENDINGS = {("a", "sg"): "a", ("a", "pl"): "ai", ("b", "sg"): "o", ("b", "pl"): "on"}
VERB_ENDINGS = {("present", "sg"): "as", ("present", "pl"): "an", ("past", "sg"): "is", ("past", "pl"): "in"}
DEFINITE = {  # (case, gender, number)
    ("nom", "a", "sg"): "la", ("nom", "a", "pl"): "lai", ("nom", "b", "sg"): "lo", ("nom", "b", "pl"): "lon",
    ("acc", "a", "sg"): "le", ("acc", "a", "pl"): "lei", ("acc", "b", "sg"): "lu", ("acc", "b", "pl"): "lun",
}  # fmt: skip
INDEFINITE = {("nom", "a"): "una", ("nom", "b"): "uno", ("acc", "a"): "une", ("acc", "b"): "unu"}

SHORTEST = 5  # words of the shortest source sentence, the "." not counted: "the cat likes the dog"
CLAUSE_WORDS = 4 + 1 + 1 + 4 + 1 + 4  # subject, never, verb, object, preposition and its noun phrase
LONGEST = (1 + CLAUSE_WORDS) + 1 + CLAUSE_WORDS  # adverb and clause, conjunction, clause: 32


@dataclass(frozen=True)
class NounPhrase:
    """``determiner adjectives noun``: determiner "the", "a" (singular), "some" or a numeral (plural)."""

    determiner: str
    plural: bool
    adjectives: tuple[str, ...]
    noun: str


@dataclass(frozen=True)
class Clause:
    """``[adverb] subject [never] verb object [preposition phrase]``; an adverb fixes the tense."""

    subject: NounPhrase
    verb: str
    tense: str  # "present" or "past"
    obj: NounPhrase
    negated: bool = False
    prepositional: tuple[str, NounPhrase] | None = None
    adverb: str | None = None


@dataclass(frozen=True)
class Sentence:
    """One clause, or two joined by a conjunction (a subordinator makes the second one subordinate)."""

    first: Clause
    conjunction: str | None = None
    second: Clause | None = None


def _source_np(np_: NounPhrase) -> list[str]:
    words = [*np_.adjectives, np_.noun + ("s" if np_.plural else "")]
    determiner = "an" if np_.determiner == "a" and words[0][0] in "aeiou" else np_.determiner
    return [determiner, *words]


def _source_verb(clause: Clause) -> str:
    if clause.tense == "past":
        return clause.verb + ("d" if clause.verb.endswith("e") else "ed")
    if clause.subject.plural:
        return clause.verb
    return clause.verb + ("es" if clause.verb.endswith(("sh", "ch")) else "s")


def _source_clause(clause: Clause) -> list[str]:
    words = [clause.adverb] if clause.adverb else []
    words += [*_source_np(clause.subject), *([NEVER[0]] if clause.negated else []), _source_verb(clause)]
    words += _source_np(clause.obj)
    if clause.prepositional:
        words += [clause.prepositional[0], *_source_np(clause.prepositional[1])]
    return words


def render_source(sentence: Sentence) -> str:
    """The source text of ``sentence``: words separated by spaces, then "."."""
    words = _source_clause(sentence.first)
    if sentence.second is not None:
        words += [sentence.conjunction, *_source_clause(sentence.second)]
    return " ".join(words) + "."


def _target_np(np_: NounPhrase, case: str) -> list[str]:
    noun, gender = NOUNS[np_.noun]
    number = "pl" if np_.plural else "sg"
    if np_.determiner == "the":
        words = [DEFINITE[case, gender, number]]
    elif np_.determiner == "a":
        words = [INDEFINITE[case, gender]]
    elif np_.determiner == "some":
        words = []
    else:
        words = [NUMERALS[np_.determiner]]
    words.append(noun + (GENDER_PLURAL[gender] if np_.plural else ""))
    return words + [ADJECTIVES[a] + ADJECTIVE_ENDINGS[gender, number] for a in np_.adjectives]


def _target_clause(clause: Clause, subordinate: bool) -> list[str]:
    verb = VERBS[clause.verb] + VERB_ENDINGS[clause.tense, "pl" if clause.subject.plural else "sg"]
    subject, rest = _target_np(clause.subject, "nom"), _target_np(clause.obj, "acc")
    if clause.prepositional:
        preposition, np_ = clause.prepositional
        rest += [*_target_np(np_, "acc"), PREPOSITIONS[preposition]]
    if clause.negated:
        rest.append(NEVER[1])
    if subordinate:
        return [*subject, *rest, verb]
    if clause.adverb:
        return [ADVERBS[clause.adverb][0], verb, *subject, *rest]
    return [*subject, verb, *rest]


def render_target(sentence: Sentence) -> str:
    """The target text of ``sentence`` by the transfer rules of the module docstring."""
    words = _target_clause(sentence.first, subordinate=False)
    if sentence.second is not None:
        conjunction = sentence.conjunction
        target = COORDINATORS.get(conjunction) or SUBORDINATORS[conjunction]
        words += [target, *_target_clause(sentence.second, subordinate=conjunction in SUBORDINATORS)]
    return " ".join(words) + "."


def _noun_phrase(rng: random.Random) -> NounPhrase:
    determiner = rng.choices(["the", "a", "some", "numeral"], weights=[9, 5, 2, 4])[0]
    if determiner == "numeral":
        determiner, plural = rng.choice(list(NUMERALS)), True
    else:
        plural = determiner == "some" or (determiner == "the" and rng.random() < 0.4)
    adjectives = tuple(rng.sample(list(ADJECTIVES), rng.choices([0, 1, 2], weights=[10, 7, 3])[0]))
    return NounPhrase(determiner, plural, adjectives, rng.choice(list(NOUNS)))


def _clause(rng: random.Random, adverb_allowed: bool) -> Clause:
    adverb = rng.choice(list(ADVERBS)) if adverb_allowed and rng.random() < 0.25 else None
    tense = ADVERBS[adverb][1] if adverb else rng.choice(["present", "past"])
    prepositional = (rng.choice(list(PREPOSITIONS)), _noun_phrase(rng)) if rng.random() < 0.3 else None
    subject, verb, obj = _noun_phrase(rng), rng.choice(list(VERBS)), _noun_phrase(rng)
    return Clause(subject, verb, tense, obj, rng.random() < 0.15, prepositional, adverb)


def _sentence(rng: random.Random) -> Sentence:
    first = _clause(rng, adverb_allowed=True)
    if rng.random() < 0.6:
        return Sentence(first)
    conjunction = rng.choice([*COORDINATORS, *SUBORDINATORS])
    return Sentence(first, conjunction, _clause(rng, adverb_allowed=False))


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        valid = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        raise ValueError(f"synthetic_translation: {name} must be {valid}, got {value!r}")


def generate_pairs(count: int, seed: int = 0, min_words: int = SHORTEST, max_words: int = 20) -> Pairs:
    """``count`` distinct source sentences of ``min_words`` to ``max_words`` words (the "." not counted),
    drawn with ``seed``, and their translations; the same arguments give the same pairs."""
    _check_int("min_words", min_words, SHORTEST, LONGEST)
    _check_int("max_words", max_words, min_words, LONGEST)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"synthetic_translation: seed must be an int, got {seed!r}")
    rng = random.Random(seed)
    pairs: dict[str, str] = {}  # source -> target, in the order drawn
    draws = 50 * count + 10_000
    for _ in range(draws):
        if len(pairs) == count:
            break
        sentence = _sentence(rng)
        source = render_source(sentence)
        if min_words <= source.count(" ") + 1 <= max_words and source not in pairs:
            pairs[source] = render_target(sentence)
    if len(pairs) < count:
        raise ValueError(
            f"synthetic_translation: {draws} draws gave only {len(pairs)} distinct sentences of "
            f"min_words={min_words} to max_words={max_words} words, {count} needed; widen that range "
            "or ask for fewer sentences (num_train + num_test)"
        )
    return list(pairs), list(pairs.values())


def load_synthetic_translation(
    root: Path | None,
    subset: Subset,
    num_train: int = 10000,
    num_test: int = 500,
    seed: int = 0,
    min_words: int = SHORTEST,
    max_words: int = 20,
    tokenizer: str = "word",
    max_vocab: int | None = None,
) -> DataSplits:
    """The generated language pair as translation splits (module docstring; `parallel_splits`).

    Args:
        num_train, num_test: sentence pairs of each split, all source sentences distinct.
        seed: the generator's seed.
        min_words, max_words: source sentence lengths in words (the "." not counted), within [5, 32].
        tokenizer, max_vocab: as for `iwslt` (`parallel_splits`): "word", or "unigram" / "bpe" with at most
            `max_vocab` pieces per language; None keeps every word.
    """
    _check_int("num_train", num_train, 1)
    _check_int("num_test", num_test, 1)
    source, target = generate_pairs(num_test + num_train, seed, min_words, max_words)
    pairs = {
        "test": (source[:num_test], target[:num_test]),
        "train": (source[num_test:], target[num_test:]),
    }
    return parallel_splits("synthetic_translation", pairs, subset, None, max_vocab, 1, tokenizer)


SYNTHETIC_TRANSLATION = DatasetSpec(
    name="synthetic_translation",
    load=load_synthetic_translation,
    description="a generated language pair (a seeded grammar and a deterministic transfer), token ids",
)
