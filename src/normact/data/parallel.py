"""Sentence pairs to translation splits: a vocabulary per language, token ids, the test references.

Every parallel-text dataset (`iwslt`'s files, `synthetic_translation`'s generated pairs) hands its
training and test sentence pairs to `parallel_splits`, which segments them (words of `vocab.tokenize`,
or subword pieces of a SentencePiece model, `normact.data.subword`, trained on the training split),
drops over-long training pairs, subsets, and keeps the test split's target sentences as text
(`DataSplits.references`), the references of BLEU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from torch.utils.data import TensorDataset

from normact.data.splits import DataSplits, Subset
from normact.data.subword import SUBWORD_MODELS, SubwordVocab
from normact.data.vocab import BOS, EOS, PAD, UNK, Vocab, pad, tokenize

__all__ = ["TOKENIZERS", "Pairs", "parallel_splits"]

TOKENIZERS = ("word", *SUBWORD_MODELS)

Pairs = tuple[list[str], list[str]]  # source sentences, target sentences, aligned by index


def parallel_splits(
    name: str,
    pairs: Mapping[str, Pairs],
    subset: Subset,
    max_len: int | None,
    max_vocab: int | None,
    min_freq: int,
    tokenizer: str,
) -> DataSplits:
    """`TensorDataset(src, tgt)` splits of int64 token ids padded with 0, from `pairs["train"|"test"]`.

    src = tokens + `<eos>`; tgt = `<bos>` + tokens + `<eos>` (ids: 0 pad, 1 unk, 2 bos, 3 eos). Each split
    is padded to its longest sentence. Training pairs with an empty side or a side of more than `max_len`
    tokens are dropped (before subsetting); every test pair is kept.

    Args:
        name: the dataset's name, for `DataSplits.name` and the errors.
        max_len: longest training sentence kept, in tokens (words or pieces); None keeps all.
        max_vocab: vocabulary size per language, specials not counted: the most frequent words, or the
            pieces of the subword model (at most: a small corpus may have fewer).
        min_freq: the words' frequency cut-off (see `Vocab.build`); not used by subword models.
        tokenizer: "word" (`vocab.tokenize` without lowercasing, a vocabulary of the subset's training
            sentences), or "unigram" / "bpe": a SentencePiece model of that type per language, trained on
            every training pair with both sides non-empty (before `max_len` and the subset).
    """
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"{name}: unknown tokenizer {tokenizer!r}; choose from {list(TOKENIZERS)}")
    subwords: tuple[SubwordVocab, SubwordVocab] | None = None
    if tokenizer == "word":
        words = partial(tokenize, lowercase=False)  # the dataset chose the case already
        segment: list[Callable[[str], list]] = [words, words]
    else:
        if max_vocab is None:
            raise ValueError(f"{name}: max_vocab must be a number of subword pieces with a subword tokenizer")
        train_pairs = [(s, t) for s, t in zip(*pairs["train"], strict=True) if s and t]
        subwords = (
            SubwordVocab.train([s for s, _ in train_pairs], max_vocab, tokenizer),
            SubwordVocab.train([t for _, t in train_pairs], max_vocab, tokenizer),
        )
        segment = [subwords[0].encode, subwords[1].encode]
    kept, references = {}, []
    for split in ("train", "test"):
        src_lines, tgt_lines = pairs[split]
        src, tgt = [segment[0](s) for s in src_lines], [segment[1](t) for t in tgt_lines]
        rows = list(range(len(src)))
        if split == "train":
            limit = max_len if max_len is not None else float("inf")
            rows = [i for i in rows if 0 < len(src[i]) <= limit and 0 < len(tgt[i]) <= limit]
        rows = [rows[i] for i in subset.indices(split, len(rows), name)]
        kept[split] = ([src[i] for i in rows], [tgt[i] for i in rows])
        if split == "test":
            references = [tgt_lines[i] for i in rows]
    if subwords is None:
        specials = (PAD, UNK, BOS, EOS)
        src_vocab = Vocab.build(kept["train"][0], max_vocab, min_freq, specials)
        tgt_vocab = Vocab.build(kept["train"][1], max_vocab, min_freq, specials)
        encode = [src_vocab.encode, tgt_vocab.encode]
    else:
        src_vocab, tgt_vocab = subwords
        encode = [list, list]  # pieces are ids already
    bos, eos = tgt_vocab.stoi[BOS], tgt_vocab.stoi[EOS]

    def dataset(src: list[list], tgt: list[list]) -> TensorDataset:
        return TensorDataset(
            pad([[*encode[0](s), eos] for s in src]),
            pad([[bos, *encode[1](t), eos] for t in tgt]),
        )

    train, test = dataset(*kept["train"]), dataset(*kept["test"])
    return DataSplits(
        name=name,
        train=train,
        test=test,
        num_classes=len(tgt_vocab),
        input_shape=tuple(train.tensors[0].shape[1:]),
        vocab=src_vocab,
        target_vocab=tgt_vocab,
        references=tuple(references),
    )
