"""Tiny ImageNet (Le & Yang, 2015) from its folder layout: 200 classes of 64x64 colour images.

Layout of `tiny-imagenet-200/`: `wnids.txt` (one class id per line), `words.txt` (id, tab, names),
`train/<wnid>/images/*.JPEG` (500 per class) and `val/images/*.JPEG` labelled by
`val/val_annotations.txt` (file, tab, wnid, box). The unlabelled `test/` folder is not used; the
validation images are the test split, as in the papers.
"""

from __future__ import annotations

from pathlib import Path

from normact.data.errors import CorruptDataError, MissingDataError, hint
from normact.data.imagefolder import decode_images, list_images
from normact.data.splits import DatasetSpec, DataSplits, Subset, image_splits, image_tensor, label_tensor

TINY_IMAGENET_HOW = hint(
    "download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it", "tiny-imagenet-200"
)


def _read_lines(path: Path, expected: str) -> list[str]:
    if not path.is_file():
        raise MissingDataError(path, expected, TINY_IMAGENET_HOW)
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _class_names(root: Path, wnids: list[str]) -> tuple[str, ...]:
    words = root / "words.txt"
    if not words.is_file():
        return tuple(wnids)
    names = dict(line.split("\t", 1) for line in _read_lines(words, "") if "\t" in line)
    return tuple(names.get(w, w) for w in wnids)


def load_tiny_imagenet(root: Path, subset: Subset, image_size: int = 64) -> DataSplits:
    """Tiny ImageNet in memory: train (100000, 3, 64, 64) and the validation images as test, in [0, 1].

    Only the files kept by the subset are decoded (about 0.1 ms an image). `image_size` is the side
    every image must have (64 for the real set).
    """
    wnids = sorted(_read_lines(root / "wnids.txt", "wnids.txt, one class id per line"))
    label_of = {w: i for i, w in enumerate(wnids)}

    train_files, train_labels = [], []
    for wnid in wnids:
        folder = root / "train" / wnid / "images"
        if not folder.is_dir():
            raise MissingDataError(folder, f"the training images of class {wnid}", TINY_IMAGENET_HOW)
        files = list_images(folder)
        train_files += files
        train_labels += [label_of[wnid]] * len(files)

    annotations = root / "val" / "val_annotations.txt"
    test_files, test_labels = [], []
    for number, line in enumerate(_read_lines(annotations, "val_annotations.txt (file, tab, wnid, box)"), 1):
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in label_of:
            raise CorruptDataError(
                annotations,
                f"line {number}: expected '<file>\\t<wnid>\\t...' with a wnid from wnids.txt, got {line!r}",
                TINY_IMAGENET_HOW,
            )
        test_files.append(root / "val" / "images" / fields[0])
        test_labels.append(label_of[fields[1]])

    splits = []
    for split, files, labels in (("train", train_files, train_labels), ("test", test_files, test_labels)):
        keep = subset.indices(split, len(files), "tiny_imagenet")
        pixels = decode_images([files[i] for i in keep], (image_size, image_size), TINY_IMAGENET_HOW)
        splits.append((image_tensor(pixels), label_tensor([labels[i] for i in keep])))
    return image_splits("tiny_imagenet", splits[0], splits[1], len(wnids), _class_names(root, wnids))


TINY_IMAGENET = DatasetSpec(
    name="tiny_imagenet",
    load=load_tiny_imagenet,
    description="Tiny ImageNet, folder layout (tiny-imagenet-200), in memory",
    dirname="tiny-imagenet-200",
    probe="wnids.txt",
    how_to_get=TINY_IMAGENET_HOW,
)
