"""IWSLT-style parallel text: `<split>.<lang>` files with one sentence per line, aligned by line number.

This is the layout of the usual IWSLT 2014/2015 De-En preparations (`train.de`, `train.en`,
`valid.de`, ..., `test.en`). Each language has its own vocabulary, built from the training split: words
of `vocab.tokenize`, or subword pieces of a SentencePiece model (`normact.data.subword`) trained on it.
The test split's target sentences are kept as text (`DataSplits.references`), the references of BLEU.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from torch.utils.data import TensorDataset

from normact.data.errors import CorruptDataError, MissingDataError, hint
from normact.data.splits import DatasetSpec, DataSplits, Subset
from normact.data.subword import SUBWORD_MODELS, SubwordVocab
from normact.data.vocab import BOS, EOS, PAD, UNK, Vocab, pad, tokenize

TOKENIZERS = ("word", *SUBWORD_MODELS)

IWSLT_HOW = hint(
    "get the IWSLT 2015 De-En corpus (https://wit3.fbk.eu) as plain text, one sentence per line, in files "
    "train.de, train.en, test.de, test.en (as fairseq's prepare-iwslt14.sh writes them)",
    "iwslt",
)


def _read(path: Path, lowercase: bool) -> list[str]:
    if not path.is_file():
        raise MissingDataError(path, "a text file with one sentence per line", IWSLT_HOW)
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line.lower() for line in lines] if lowercase else lines


def _read_pairs(root: Path, split: str, src: str, tgt: str, lowercase: bool) -> tuple[list[str], list[str]]:
    src_path, tgt_path = root / f"{split}.{src}", root / f"{split}.{tgt}"
    src_lines, tgt_lines = _read(src_path, lowercase), _read(tgt_path, lowercase)
    if len(src_lines) != len(tgt_lines):
        raise CorruptDataError(
            tgt_path,
            f"{len(tgt_lines)} lines, but {src_path.name} has {len(src_lines)}; the files must be aligned",
            IWSLT_HOW,
        )
    return src_lines, tgt_lines


def load_iwslt(
    root: Path,
    subset: Subset,
    src_lang: str = "de",
    tgt_lang: str = "en",
    test_split: str = "test",
    max_len: int | None = 100,
    max_vocab: int | None = 20000,
    min_freq: int = 1,
    lowercase: bool = True,
    tokenizer: str = "word",
) -> DataSplits:
    """Parallel text as `TensorDataset(src, tgt)` of int64 token ids padded with 0.

    src = tokens + `<eos>`; tgt = `<bos>` + tokens + `<eos>` (ids: 0 pad, 1 unk, 2 bos, 3 eos). Each split
    is padded to its longest sentence. Training pairs with an empty side or a side of more than `max_len`
    tokens are dropped (before subsetting); every test pair is kept.

    Args:
        test_split: the file prefix of the test split ("test", "valid", "tst2013", ...).
        max_len: longest training sentence kept, in tokens (words or pieces); None keeps all.
        max_vocab: vocabulary size per language, specials not counted: the most frequent words, or the
            pieces of the subword model (at most: a small corpus may have fewer).
        min_freq: the words' frequency cut-off (see `Vocab.build`); not used by subword models.
        lowercase: lowercase the text, the BLEU references included.
        tokenizer: "word" (`vocab.tokenize`, a vocabulary of the subset's training sentences), or
            "unigram" / "bpe": a SentencePiece model of that type per language, trained on every
            training pair with both sides non-empty (before `max_len` and the subset).
    """
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"iwslt: unknown tokenizer {tokenizer!r}; choose from {list(TOKENIZERS)}")
    lines = {
        split: _read_pairs(root, prefix, src_lang, tgt_lang, lowercase)
        for split, prefix in (("train", "train"), ("test", test_split))
    }
    subwords: tuple[SubwordVocab, SubwordVocab] | None = None
    if tokenizer == "word":
        words = partial(tokenize, lowercase=False)  # lowercased already when `lowercase`
        segment: list[Callable[[str], list]] = [words, words]
    else:
        if max_vocab is None:
            raise ValueError("iwslt: max_vocab must be a number of subword pieces with a subword tokenizer")
        train_pairs = [(s, t) for s, t in zip(*lines["train"], strict=True) if s and t]
        subwords = (
            SubwordVocab.train([s for s, _ in train_pairs], max_vocab, tokenizer),
            SubwordVocab.train([t for _, t in train_pairs], max_vocab, tokenizer),
        )
        segment = [subwords[0].encode, subwords[1].encode]
    pairs, references = {}, []
    for split, (src_lines, tgt_lines) in lines.items():
        src, tgt = [segment[0](s) for s in src_lines], [segment[1](t) for t in tgt_lines]
        rows = list(range(len(src)))
        if split == "train":
            limit = max_len if max_len is not None else float("inf")
            rows = [i for i in rows if 0 < len(src[i]) <= limit and 0 < len(tgt[i]) <= limit]
        rows = [rows[i] for i in subset.indices(split, len(rows), "iwslt")]
        pairs[split] = ([src[i] for i in rows], [tgt[i] for i in rows])
        if split == "test":
            references = [tgt_lines[i] for i in rows]
    if subwords is None:
        specials = (PAD, UNK, BOS, EOS)
        src_vocab = Vocab.build(pairs["train"][0], max_vocab, min_freq, specials)
        tgt_vocab = Vocab.build(pairs["train"][1], max_vocab, min_freq, specials)
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

    train, test = dataset(*pairs["train"]), dataset(*pairs["test"])
    return DataSplits(
        name="iwslt",
        train=train,
        test=test,
        num_classes=len(tgt_vocab),
        input_shape=tuple(train.tensors[0].shape[1:]),
        vocab=src_vocab,
        target_vocab=tgt_vocab,
        references=tuple(references),
    )


IWSLT = DatasetSpec(
    name="iwslt",
    load=load_iwslt,
    description="IWSLT-style parallel text (train.de/train.en, ...), token ids",
    dirname="iwslt",
    probe="train.*",
    how_to_get=IWSLT_HOW,
)
