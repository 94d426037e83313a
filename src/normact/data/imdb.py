"""IMDB movie reviews (Maas et al., 2011) from the `aclImdb` folder layout, as padded token ids.

Layout: `aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`, one review per file (`train/unsup` is not
used). Labels: neg = 0, pos = 1. The vocabulary is built from the training reviews only.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import TensorDataset

from normact.data.errors import CorruptDataError, MissingDataError, describe_folder, hint
from normact.data.splits import DatasetSpec, DataSplits, Subset, label_tensor
from normact.data.vocab import Vocab, pad, tokenize

IMDB_HOW = hint(
    "download aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/ and extract it", "aclImdb"
)
CLASSES = ("neg", "pos")


IMDB_LAYOUT = "expected {train,test}/{pos,neg}/<id>_<rating>.txt, one review per file (docs/data.md)"


def _review_files(root: Path, split: str) -> tuple[list[Path], list[int]]:
    """The review files of ``split`` and their labels; a missing or empty folder is an error that says
    what the folder above it holds and the layout expected."""
    files, labels = [], []
    for label, sentiment in enumerate(CLASSES):
        folder = root / split / sentiment
        if not folder.is_dir():
            above = folder.parent if folder.parent.is_dir() else root
            found = f"the {split} reviews ({above} holds {describe_folder(above)}); {IMDB_LAYOUT}"
            raise MissingDataError(folder, found, IMDB_HOW)
        # Sorted by the numeric id in '<id>_<rating>.txt' so that the order is the same on every system.
        found = sorted(
            folder.glob("*.txt"),
            key=lambda p: (int(p.stem.split("_")[0]) if p.stem[:1].isdigit() else -1, p.name),
        )
        if not found:
            problem = f"no .txt reviews, found {describe_folder(folder)}; {IMDB_LAYOUT}"
            raise CorruptDataError(folder, problem, IMDB_HOW)
        files += found
        labels += [label] * len(found)
    return files, labels


def check_imdb(root: Path) -> None:
    """Check that ``root`` has the aclImdb layout (every split and sentiment folder holds .txt reviews),
    so that a bad folder fails before any run starts; the files are listed, not read."""
    for split in ("train", "test"):
        _review_files(root, split)


def load_imdb(
    root: Path, subset: Subset, max_len: int = 400, max_vocab: int | None = 25000, min_freq: int = 1
) -> DataSplits:
    """IMDB sentiment: x int64 (N, max_len) token ids (the first `max_len` tokens, padded with 0), y 0/1.

    Args:
        max_len: tokens kept per review (from the start).
        max_vocab: most frequent training words kept; the rest map to `<unk>` (id 1).
        min_freq: words seen fewer times in the training reviews map to `<unk>`.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    tokens, labels = {}, {}
    for split in ("train", "test"):
        files, split_labels = _review_files(root, split)
        keep = subset.indices(split, len(files), "imdb")
        tokens[split] = [tokenize(files[i].read_text(encoding="utf-8", errors="replace")) for i in keep]
        labels[split] = [split_labels[i] for i in keep]
    vocab = Vocab.build(tokens["train"], max_size=max_vocab, min_freq=min_freq)
    train, test = (
        TensorDataset(pad([vocab.encode(t) for t in tokens[s]], max_len), label_tensor(labels[s]))
        for s in ("train", "test")
    )
    return DataSplits(
        name="imdb",
        train=train,
        test=test,
        num_classes=2,
        input_shape=(max_len,),
        classes=CLASSES,
        vocab=vocab,
    )


IMDB = DatasetSpec(
    name="imdb",
    load=load_imdb,
    description="IMDB reviews, aclImdb folder layout, token ids",
    dirname="aclImdb",
    probe="train/pos/",
    how_to_get=IMDB_HOW,
    check=check_imdb,
)
