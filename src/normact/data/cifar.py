"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) from the standard python-pickle batches.

The batches are pickles of dicts holding a uint8 array `data` (N, 3072: 1024 red, 1024 green, 1024 blue
values, each 32x32 row-major) and a list of labels. They are read with `SafeUnpickler`, which builds
only numpy arrays and plain Python values: a file that asks for anything else is refused before any of
it runs, so a user's file can never execute code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from normact.data.errors import CorruptDataError, MissingDataError, hint
from normact.data.splits import DatasetSpec, DataSplits, Subset, image_splits, image_tensor, label_tensor

_reconstruct = np.ndarray(0).__reduce__()[0]  # numpy's array-rebuilding function, whatever its module


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as Python 3 pickles bytes at protocol 2, for latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(
            f"_codecs.encode is allowed only for latin-1 text, got encoding {encoding!r}"
        )
    return text.encode("latin1")


_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy >= 2
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # numpy 1 and the original Python 2 files
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle asked for a function or class outside the allowed set."""


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only numpy's array reconstruction; every other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(
                f"refusing '{module}.{name}': only numpy arrays and plain Python values are allowed"
            ) from None


def load_pickle(path: Path, how_to_get: str) -> dict[str, Any]:
    """Read one CIFAR batch (or meta file) safely; keys come back as str whatever the pickling Python."""
    if not path.is_file():
        raise MissingDataError(path, "a CIFAR python-pickle batch", how_to_get)
    try:
        obj = SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except ForbiddenGlobalError as err:
        raise CorruptDataError(path, f"not loaded: {err}; the file may be malicious", how_to_get) from err
    except Exception as err:  # any other failure of a damaged stream: EOFError, ValueError, KeyError, ...
        raise CorruptDataError(
            path, f"not a readable pickle ({type(err).__name__}: {err})", how_to_get
        ) from err
    if not isinstance(obj, dict):
        raise CorruptDataError(path, f"expected a pickled dict, got {type(obj).__name__}", how_to_get)
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_batch(
    path: Path, label_key: str, num_classes: int, how_to_get: str
) -> tuple[np.ndarray, np.ndarray]:
    batch = load_pickle(path, how_to_get)
    for key in ("data", label_key):
        if key not in batch:
            raise CorruptDataError(path, f"missing key '{key}' (keys found: {sorted(batch)})", how_to_get)
    data, labels = batch["data"], np.asarray(batch[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CorruptDataError(
            path, f"'data' must be a uint8 array of shape (N, 3072), got {got}", how_to_get
        )
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise CorruptDataError(
            path,
            f"'{label_key}' must hold {len(data)} integers, got {labels.dtype} {labels.shape}",
            how_to_get,
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptDataError(path, f"'{label_key}' must lie in 0..{num_classes - 1}", how_to_get)
    return data.reshape(-1, 3, 32, 32), labels


def _class_names(path: Path, key: str, how_to_get: str) -> tuple[str, ...] | None:
    if not path.is_file():
        return None
    names = load_pickle(path, how_to_get).get(key)
    if not isinstance(names, list):
        return None
    return tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)


def _load(
    root: Path,
    subset: Subset,
    name: str,
    files: dict[str, tuple[str, ...]],
    label_key: str,
    num_classes: int,
    meta: tuple[str, str],
    how_to_get: str,
) -> DataSplits:
    splits = []
    for split, names in files.items():
        parts = [_read_batch(root / f, label_key, num_classes, how_to_get) for f in names]
        data = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        keep = subset.indices(split, len(data), name)
        splits.append((image_tensor(data[keep]), label_tensor(labels[keep])))
    classes = _class_names(root / meta[0], meta[1], how_to_get)
    return image_splits(name, splits[0], splits[1], num_classes, classes)


CIFAR10_HOW = hint(
    "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it",
    "cifar-10-batches-py",
)
CIFAR100_HOW = hint(
    "download cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it",
    "cifar-100-python",
)


def load_cifar10(root: Path, subset: Subset) -> DataSplits:
    """CIFAR-10: 50000/10000 colour 32x32 images of 10 classes; images (N, 3, 32, 32) in [0, 1]."""
    files = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
    return _load(root, subset, "cifar10", files, "labels", 10, ("batches.meta", "label_names"), CIFAR10_HOW)


def load_cifar100(root: Path, subset: Subset, label_mode: str = "fine") -> DataSplits:
    """CIFAR-100: 50000/10000 colour 32x32 images; 100 fine labels or 20 coarse superclasses."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"label_mode must be 'fine' or 'coarse', got {label_mode!r}")
    num_classes = 100 if label_mode == "fine" else 20
    files = {"train": ("train",), "test": ("test",)}
    meta = ("meta", f"{label_mode}_label_names")
    return _load(root, subset, "cifar100", files, f"{label_mode}_labels", num_classes, meta, CIFAR100_HOW)


CIFAR10 = DatasetSpec(
    name="cifar10",
    load=load_cifar10,
    description="CIFAR-10, python-pickle batches (cifar-10-batches-py)",
    dirname="cifar-10-batches-py",
    probe="data_batch_1",
    how_to_get=CIFAR10_HOW,
)
CIFAR100 = DatasetSpec(
    name="cifar100",
    load=load_cifar100,
    description="CIFAR-100, python-pickle files (cifar-100-python)",
    dirname="cifar-100-python",
    probe="train",
    how_to_get=CIFAR100_HOW,
)
