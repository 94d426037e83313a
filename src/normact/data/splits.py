"""What every loader returns (`DataSplits`) and the shared steps: subsets, splits, statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from normact.data.subword import SubwordVocab
from normact.data.vocab import Vocab


@dataclass
class DataSplits:
    """A dataset's training and test splits and what a model needs to know about them.

    In-memory splits are `TensorDataset(x, y)`: images float32 (N, C, H, W) in [0, 1], tabular float32
    (N, D) standardised with training statistics, text int64 (N, L) token ids padded with 0; y int64.
    Large image sets are lazy `Dataset`s returning `(image, label)`.
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]  # of one sample, e.g. (1, 28, 28)
    mean: tuple[float, ...] | None = None  # per channel, of the training images; None for tabular/text
    std: tuple[float, ...] | None = None
    classes: tuple[str, ...] | None = None  # class names, index = label
    vocab: Vocab | SubwordVocab | None = None  # of the input tokens (text sets)
    target_vocab: Vocab | SubwordVocab | None = None  # of the target tokens (translation)
    references: tuple[str, ...] | None = None  # the test split's target sentences as text (translation)


@dataclass(frozen=True)
class Subset:
    """How many samples of each split to keep: the first n (seed None) or a seeded random n."""

    train_size: int | None = None
    test_size: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for key in ("train_size", "test_size"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{key} must be a positive int or None, got {value!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"subset_seed must be an int or None, got {self.seed!r}")

    def indices(self, split: str, n: int, name: str) -> np.ndarray:
        """Indices (sorted, int64) of the samples kept from a split of n samples."""
        size = self.train_size if split == "train" else self.test_size
        if size is None:
            return np.arange(n)
        if size > n:
            raise ValueError(f"{split}_size={size} exceeds the {n} {split} samples of '{name}'")
        if self.seed is None:
            return np.arange(size)
        # Streams differ per split so that the train and test subsets are drawn independently.
        rng = np.random.default_rng([self.seed, 0 if split == "train" else 1])
        return np.sort(rng.choice(n, size=size, replace=False))


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: how to load a dataset, where its files live, how to recognise and get them.

    `probe` is a glob, relative to the dataset's folder, that a folder must match to be taken for the
    dataset (a trailing '/' asks for a folder). Sets generated offline have no `dirname` and no `probe`.
    """

    name: str
    load: Callable[..., DataSplits]  # load(root, subset, **options)
    description: str
    dirname: str | None = None  # the folder's standard name, looked for under $NORMACT_DATA
    probe: str | None = None
    default_root: str | None = None
    how_to_get: str = ""
    options: tuple[str, ...] = field(default=())  # filled by the registry from `load`'s signature
    check: Callable[[Path], None] | None = None  # raises where a found folder's layout is not the set's


def random_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices (each sorted) for sets that ship without an official split."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n_test = round(n * test_fraction)
    if not 0 < n_test < n:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty split of {n} samples")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of (N, C, H, W) images."""
    var, mean = torch.var_mean(images, dim=(0, 2, 3), correction=0)
    return tuple(mean.tolist()), tuple(var.sqrt().tolist())


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise both splits' columns with the training mean and std (a constant column keeps std 1)."""
    train = np.asarray(train, dtype=np.float64)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0

    def scale(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((np.asarray(a, dtype=np.float64) - mean) / std).astype(np.float32))

    return scale(train), scale(test)


def image_tensor(pixels: np.ndarray, scale: float = 255.0) -> torch.Tensor:
    """Integer pixels (N, C, H, W) as float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32).div_(scale)


def label_tensor(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(labels, dtype=np.int64))


def image_splits(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    classes: tuple[str, ...] | None = None,
) -> DataSplits:
    """In-memory image splits with the training set's channel statistics."""
    mean, std = channel_stats(train[0])
    return DataSplits(
        name=name,
        train=TensorDataset(*train),
        test=TensorDataset(*test),
        num_classes=num_classes,
        input_shape=tuple(train[0].shape[1:]),
        mean=mean,
        std=std,
        classes=classes,
    )


def tabular_splits(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    subset: Subset,
    classes: tuple[str, ...] | None = None,
) -> DataSplits:
    """Tabular splits: subset, then standardise with the statistics of the training rows kept."""
    train_idx = train_idx[subset.indices("train", len(train_idx), name)]
    test_idx = test_idx[subset.indices("test", len(test_idx), name)]
    x_train, x_test = standardize(x[train_idx], x[test_idx])
    num_classes = len(classes) if classes is not None else int(y.max()) + 1
    return DataSplits(
        name=name,
        train=TensorDataset(x_train, label_tensor(y[train_idx])),
        test=TensorDataset(x_test, label_tensor(y[test_idx])),
        num_classes=num_classes,
        input_shape=(x.shape[1],),
        classes=classes,
    )
