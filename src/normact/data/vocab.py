"""A deterministic word tokenizer and a vocabulary built from a training split, for the text sets."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split text into words (letters, digits, inner apostrophes: "don't") and single punctuation marks.

    HTML line breaks (`<br />`, frequent in IMDB reviews) count as white space.
    """
    text = _BREAK.sub(" ", text)
    return _TOKEN.findall(text.lower() if lowercase else text)


class Vocab:
    """Token <-> id maps. Ids 0.. are the special tokens (0 is always `<pad>`, 1 `<unk>`), then the words."""

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = (PAD, UNK)) -> None:
        if tuple(specials[:2]) != (PAD, UNK):
            raise ValueError(f"specials must start with {PAD!r}, {UNK!r}, got {list(specials)}")
        self.itos = list(dict.fromkeys([*specials, *tokens]))  # duplicates keep their first id
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_index, self.unk_index = 0, 1
        self.num_specials = len(specials)

    @classmethod
    def build(
        cls,
        texts: Iterable[Sequence[str]],
        max_size: int | None = None,
        min_freq: int = 1,
        specials: Sequence[str] = (PAD, UNK),
    ) -> Vocab:
        """Words seen at least `min_freq` times, most frequent first (ties in alphabetical order), at most
        `max_size` of them (specials not counted)."""
        counts = Counter(token for text in texts for token in text)
        words = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in specials),
            key=lambda t: (-counts[t], t),
        )
        return cls(words[:max_size], specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.stoi.get(t, self.unk_index) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids`, leaving out padding."""
        return [self.itos[i] for i in ids if i != self.pad_index]

    def to_text(self, ids: Iterable[int]) -> str:
        """The tokens of `ids` joined by single spaces (no detokenisation), leaving out padding."""
        return " ".join(self.decode(ids))

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={self.itos[: self.num_specials]})"


def pad(sequences: Sequence[Sequence[int]], length: int | None = None, pad_index: int = 0) -> torch.Tensor:
    """Sequences as an int64 (N, L) tensor padded at the end; longer ones are cut to `length`.

    L = `length`, or the longest sequence's length when `length` is None.
    """
    longest = max((len(s) for s in sequences), default=0)
    width = longest if length is None else length
    out = torch.full((len(sequences), width), pad_index, dtype=torch.int64)
    for row, seq in enumerate(sequences):
        seq = seq[:width]
        out[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.int64)
    return out
