"""Subword vocabularies: a SentencePiece model (Kudo and Richardson 2018) trained on a training split.

``SubwordVocab.train(sentences, size, model_type)`` trains a unigram-language-model or BPE segmentation
in memory (one thread, deterministic: the same sentences give the same model) with the ids of
``normact.data.vocab``'s specials: 0 ``<pad>``, 1 ``<unk>``, 2 ``<bos>``, 3 ``<eos>``. Every character of
the training sentences is kept (``character_coverage=1.0``); ``size`` is an upper bound, since a small
corpus may not have that many pieces. Needs the ``sentencepiece`` package (``normact[translation]``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from normact.data.vocab import BOS, EOS, PAD, UNK

__all__ = ["SUBWORD_MODELS", "SubwordVocab"]

SUBWORD_MODELS = ("unigram", "bpe")


def _sentencepiece() -> Any:
    try:
        import sentencepiece
    except ImportError as err:
        raise ImportError(
            "subword vocabularies need the sentencepiece package: pip install 'normact[translation]'"
        ) from err
    return sentencepiece


class SubwordVocab:
    """Text <-> piece ids of a trained SentencePiece model, with ``Vocab``'s special ids and attributes."""

    def __init__(self, model: bytes) -> None:
        self.model = model  # the serialized SentencePiece model
        self.processor = _sentencepiece().SentencePieceProcessor(model_proto=model)
        self.itos = [self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())]
        self.stoi = {piece: i for i, piece in enumerate(self.itos)}
        if self.itos[:4] != [PAD, UNK, BOS, EOS]:
            raise ValueError(f"a subword model must start with {[PAD, UNK, BOS, EOS]}, got {self.itos[:4]}")
        self.pad_index, self.unk_index = 0, 1
        self.num_specials = 4

    @classmethod
    def train(cls, sentences: Iterable[str], size: int, model_type: str = "unigram") -> SubwordVocab:
        """A model of at most ``size`` pieces (specials not counted) trained on ``sentences``."""
        if model_type not in SUBWORD_MODELS:
            raise ValueError(f"unknown subword model {model_type!r}; choose from {list(SUBWORD_MODELS)}")
        if size < 1:
            raise ValueError(f"a subword vocabulary needs at least one piece, got size={size}")
        sentences = [s for s in sentences if s.strip()]
        if not sentences:
            raise ValueError("cannot train a subword vocabulary on no text")
        buffer = io.BytesIO()
        try:
            _sentencepiece().SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=buffer,
                vocab_size=size + 4,
                model_type=model_type,
                character_coverage=1.0,
                hard_vocab_limit=False,  # a small corpus gives fewer pieces instead of an error
                pad_id=0, unk_id=1, bos_id=2, eos_id=3,
                pad_piece=PAD, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
                num_threads=1,
                minloglevel=2,
            )  # fmt: skip
        except RuntimeError as err:  # fewer pieces allowed than the text has characters
            message = (
                f"cannot train a {model_type} subword vocabulary of at most {size} pieces on this text (it "
                f"needs at least one piece per distinct character; raise the size): {err}"
            )
            raise ValueError(message) from err
        return cls(buffer.getvalue())

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, piece: str) -> bool:
        return piece in self.stoi

    def encode(self, text: str) -> list[int]:
        """The piece ids of ``text`` (unknown characters as ``<unk>``)."""
        return self.processor.encode(text)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Pieces of ``ids``, leaving out padding."""
        return [self.itos[i] for i in ids if i != self.pad_index]

    def to_text(self, ids: Iterable[int]) -> str:
        """The text of piece ids: the inverse of ``encode`` up to Unicode NFKC and runs of white space."""
        return self.processor.decode([i for i in ids if i != self.pad_index])

    def __repr__(self) -> str:
        return f"SubwordVocab(size={len(self)})"
