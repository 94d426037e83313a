"""IWSLT-style parallel text: `<split>.<lang>` files with one sentence per line, aligned by line number.

This is the layout of the usual IWSLT 2014/2015 De-En preparations (`train.de`, `train.en`,
`valid.de`, ..., `test.en`). Sentences are tokenised with `vocab.tokenize`; each language has its own
vocabulary built from the training split.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import TensorDataset

from normact.data.errors import CorruptDataError, MissingDataError, hint
from normact.data.splits import DatasetSpec, DataSplits, Subset
from normact.data.vocab import BOS, EOS, PAD, UNK, Vocab, pad, tokenize

IWSLT_HOW = hint(
    "get the IWSLT 2015 De-En corpus (https://wit3.fbk.eu) as plain text, one sentence per line, in files "
    "train.de, train.en, test.de, test.en (as fairseq's prepare-iwslt14.sh writes them)",
    "iwslt",
)


def _read(path: Path) -> list[str]:
    if not path.is_file():
        raise MissingDataError(path, "a text file with one sentence per line", IWSLT_HOW)
    return path.read_text(encoding="utf-8").splitlines()


def _read_pairs(
    root: Path, split: str, src: str, tgt: str, lowercase: bool
) -> tuple[list[list[str]], list[list[str]]]:
    src_path, tgt_path = root / f"{split}.{src}", root / f"{split}.{tgt}"
    src_lines, tgt_lines = _read(src_path), _read(tgt_path)
    if len(src_lines) != len(tgt_lines):
        raise CorruptDataError(
            tgt_path,
            f"{len(tgt_lines)} lines, but {src_path.name} has {len(src_lines)}; the files must be aligned",
            IWSLT_HOW,
        )
    return [tokenize(s, lowercase) for s in src_lines], [tokenize(t, lowercase) for t in tgt_lines]


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
) -> DataSplits:
    """Parallel text as `TensorDataset(src, tgt)` of int64 token ids padded with 0.

    src = tokens + `<eos>`; tgt = `<bos>` + tokens + `<eos>` (ids: 0 pad, 1 unk, 2 bos, 3 eos). Each split
    is padded to its longest sentence. Training pairs with an empty side or a side of more than `max_len`
    tokens are dropped (before subsetting); every test pair is kept.

    Args:
        test_split: the file prefix of the test split ("test", "valid", "tst2013", ...).
        max_len: longest training sentence kept, in tokens; None keeps all.
        max_vocab, min_freq: vocabulary size and frequency cut-off per language (see `Vocab.build`).
    """
    pairs = {}
    for split, prefix in (("train", "train"), ("test", test_split)):
        src, tgt = _read_pairs(root, prefix, src_lang, tgt_lang, lowercase)
        if split == "train":
            limit = max_len if max_len is not None else float("inf")
            kept = [
                (s, t) for s, t in zip(src, tgt, strict=True) if 0 < len(s) <= limit and 0 < len(t) <= limit
            ]
            src, tgt = [s for s, _ in kept], [t for _, t in kept]
        keep = subset.indices(split, len(src), "iwslt")
        pairs[split] = ([src[i] for i in keep], [tgt[i] for i in keep])
    specials = (PAD, UNK, BOS, EOS)
    src_vocab = Vocab.build(pairs["train"][0], max_vocab, min_freq, specials)
    tgt_vocab = Vocab.build(pairs["train"][1], max_vocab, min_freq, specials)
    bos, eos = tgt_vocab.stoi[BOS], tgt_vocab.stoi[EOS]

    def dataset(src: list[list[str]], tgt: list[list[str]]) -> TensorDataset:
        return TensorDataset(
            pad([[*src_vocab.encode(s), eos] for s in src]),
            pad([[bos, *tgt_vocab.encode(t), eos] for t in tgt]),
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
    )


IWSLT = DatasetSpec(
    name="iwslt",
    load=load_iwslt,
    description="IWSLT-style parallel text (train.de/train.en, ...), token ids",
    dirname="iwslt",
    probe="train.*",
    how_to_get=IWSLT_HOW,
)
