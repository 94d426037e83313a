"""IWSLT-style parallel text: `<split>.<lang>` files with one sentence per line, aligned by line number.

This is the layout of the usual IWSLT 2014/2015 De-En preparations (`train.de`, `train.en`,
`valid.de`, ..., `test.en`). The pairs become splits as every parallel set's do (`normact.data.parallel`):
a vocabulary per language built from the training split (words or subword pieces), the test split's
target sentences kept as text (`DataSplits.references`), the references of BLEU.
"""

from __future__ import annotations

from pathlib import Path

from normact.data.errors import CorruptDataError, MissingDataError, hint
from normact.data.parallel import Pairs, parallel_splits
from normact.data.splits import DatasetSpec, DataSplits, Subset

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


def _read_pairs(root: Path, split: str, src: str, tgt: str, lowercase: bool) -> Pairs:
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
    """Parallel text files as `TensorDataset(src, tgt)` of int64 token ids (`parallel.parallel_splits`).

    Args:
        test_split: the file prefix of the test split ("test", "valid", "tst2013", ...).
        lowercase: lowercase the text, the BLEU references included.
        max_len, max_vocab, min_freq, tokenizer: see `parallel_splits`.
    """
    pairs = {
        split: _read_pairs(root, prefix, src_lang, tgt_lang, lowercase)
        for split, prefix in (("train", "train"), ("test", test_split))
    }
    return parallel_splits("iwslt", pairs, subset, max_len, max_vocab, min_freq, tokenizer)


IWSLT = DatasetSpec(
    name="iwslt",
    load=load_iwslt,
    description="IWSLT-style parallel text (train.de/train.en, ...), token ids",
    dirname="iwslt",
    probe="train.*",
    how_to_get=IWSLT_HOW,
)
