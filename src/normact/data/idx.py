"""The idx format of MNIST and Fashion-MNIST (gzip-compressed or raw) and the two datasets stored in it.

Format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of
dimensions d, then d big-endian uint32 sizes and the values in row-major order.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from normact.data.errors import CorruptDataError, MissingDataError, hint
from normact.data.splits import DatasetSpec, DataSplits, Subset, image_splits, image_tensor, label_tensor

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_HOW = hint(
    "install the Debian package dataset-fashion-mnist (it fills /usr/share/datasets/fashion-mnist), or "
    "download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
    "t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist",
    "fashion-mnist",
)
MNIST_HOW = (
    "MNIST: download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
    "t10k-labels-idx1-ubyte.gz (http://yann.lecun.com/exdb/mnist/ or a mirror) into <dir>/mnist and set "
    "NORMACT_DATA=<dir> (or pass root=<dir>/mnist)"
)
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def read_idx(path: str | os.PathLike, how_to_get: str = "") -> np.ndarray:
    """Read one idx file, gzip-compressed or raw (told apart by content, not by name).

    Returns an array in native byte order with the shape stored in the header. A file whose header is
    malformed or whose length disagrees with the header raises `CorruptDataError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(path, "an idx file (MNIST format, gzip or raw)", how_to_get)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise CorruptDataError(path, f"damaged gzip stream ({err})", how_to_get) from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise CorruptDataError(
            path,
            f"not an idx file: expected magic bytes 00 00 <type> <ndim>, got {raw[:4].hex(' ')!r}",
            how_to_get,
        )
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _TYPES)
        raise CorruptDataError(path, f"unknown idx type code 0x{code:02X}; valid codes: {valid}", how_to_get)
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise CorruptDataError(
            path,
            f"header truncated: {ndim} dimensions need {offset} header bytes, file has {len(raw)}",
            how_to_get,
        )
    shape = struct.unpack(f">{ndim}I", raw[4:offset])
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise CorruptDataError(
            path,
            f"header promises shape {shape} of {dtype} ({expected} data bytes) but the file holds "
            f"{len(raw) - offset} (truncated or damaged)",
            how_to_get,
        )
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def _find(root: Path, stem: str, how_to_get: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise MissingDataError(root / f"{stem}.gz", f"{stem}.gz or {stem} (idx format)", how_to_get)


def _read_split(root: Path, prefix: str, how_to_get: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find(root, f"{prefix}-images-idx3-ubyte", how_to_get)
    labels_path = _find(root, f"{prefix}-labels-idx1-ubyte", how_to_get)
    images, labels = read_idx(images_path, how_to_get), read_idx(labels_path, how_to_get)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise CorruptDataError(
            images_path,
            f"expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}",
            how_to_get,
        )
    if labels.shape != (len(images),):
        raise CorruptDataError(
            labels_path,
            f"expected {len(images)} labels to match {images_path.name}, got shape {labels.shape}",
            how_to_get,
        )
    if labels.size and labels.max() > 9:
        raise CorruptDataError(labels_path, f"labels must be 0..9, found {int(labels.max())}", how_to_get)
    return images, labels


def load_mnist_format(
    root: Path, subset: Subset, name: str, how_to_get: str, classes: tuple[str, ...]
) -> DataSplits:
    """Read the four idx files of an MNIST-format dataset in `root`; images (N, 1, 28, 28) in [0, 1]."""
    splits = []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = _read_split(root, prefix, how_to_get)
        keep = subset.indices(split, len(images), name)
        splits.append((image_tensor(images[keep, None]), label_tensor(labels[keep])))
    return image_splits(name, splits[0], splits[1], num_classes=10, classes=classes)


def load_fashion_mnist(root: Path, subset: Subset) -> DataSplits:
    """Fashion-MNIST (Xiao et al., 2017): 60000/10000 grayscale 28x28 images of 10 clothing classes."""
    return load_mnist_format(root, subset, "fashion_mnist", FASHION_MNIST_HOW, FASHION_CLASSES)


def load_mnist(root: Path, subset: Subset) -> DataSplits:
    """MNIST (LeCun et al., 1998): 60000/10000 grayscale 28x28 digits."""
    return load_mnist_format(root, subset, "mnist", MNIST_HOW, tuple(str(d) for d in range(10)))


FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    load=load_fashion_mnist,
    description="Fashion-MNIST, idx files (Debian package dataset-fashion-mnist)",
    dirname="fashion-mnist",
    probe="train-labels-idx1-ubyte*",
    default_root=FASHION_MNIST_DIR,
    how_to_get=FASHION_MNIST_HOW,
)
MNIST = DatasetSpec(
    name="mnist",
    load=load_mnist,
    description="MNIST digits, idx files",
    dirname="mnist",
    probe="train-labels-idx1-ubyte*",
    how_to_get=MNIST_HOW,
)
