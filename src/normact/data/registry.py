"""`load_dataset(name, root, **options)`: one entry point over every dataset, and where its files are found.

Root resolution: an explicit `root` (the dataset's folder, or a folder holding it under its standard
name), else `$NORMACT_DATA/<standard name>`, else the dataset's default location (Fashion-MNIST: the
Debian package's folder). Sets generated offline (scikit-learn's, MNIST-1D, synthetic_translation)
take no root. A dataset's `check` (its layout) runs on the folder found, or, when none is found, on the
candidate that exists (the one under the standard name first), so a folder laid out differently is an
error that says what it holds and the layout expected.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

from normact.data import cifar, idx, imagefolder, imdb, iwslt, small, synthetic_translation, tinyimagenet, uci
from normact.data.errors import MissingDataError
from normact.data.splits import DatasetSpec, DataSplits, Subset

ENV_VAR = "NORMACT_DATA"
_SUBSET_OPTIONS = ("train_size", "test_size", "subset_seed")


def _with_options(spec: DatasetSpec) -> DatasetSpec:
    params = list(inspect.signature(spec.load).parameters)[2:]  # after (root, subset)
    return dataclasses.replace(spec, options=(*_SUBSET_OPTIONS, *params))


_DATASETS: dict[str, DatasetSpec] = {
    spec.name: _with_options(spec)
    for spec in (
        idx.FASHION_MNIST,
        idx.MNIST,
        cifar.CIFAR10,
        cifar.CIFAR100,
        tinyimagenet.TINY_IMAGENET,
        imagefolder.IMAGENET,
        small.DIGITS,
        small.DIGITS_TABULAR,
        small.MNIST1D,
        small.BREAST_CANCER,
        small.WINE,
        uci.MINIBOONE,
        uci.ADULT,
        uci.HTRU2,
        imdb.IMDB,
        iwslt.IWSLT,
        synthetic_translation.SYNTHETIC_TRANSLATION,
    )
}


def list_datasets() -> list[str]:
    """Names accepted by `load_dataset`."""
    return sorted(_DATASETS)


def get_spec(name: str) -> DatasetSpec:
    """The registry entry of a dataset; names are case-insensitive and '-' reads as '_'."""
    if not isinstance(name, str):
        raise TypeError(
            f"dataset name must be a str, got {type(name).__name__}; choose from {list_datasets()}"
        )
    key = name.lower().replace("-", "_")
    if key not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {list_datasets()}")
    return _DATASETS[key]


def _holds(folder: Path, probe: str) -> bool:
    """Whether `folder` holds a file matching `probe` (a folder if `probe` ends with '/')."""
    want_dir = probe.endswith("/")
    return any(p.is_dir() == want_dir for p in folder.glob(probe.rstrip("/")))


def resolve_root(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """The folder a dataset is read from (None for sets generated offline); see the module docstring."""
    spec = get_spec(name)
    if spec.probe is None:
        if root is not None:
            raise ValueError(f"dataset '{spec.name}' is generated offline and takes no root (got {root!r})")
        return None
    if root is not None:
        candidates = [Path(root), Path(root) / spec.dirname]
    else:
        candidates = [Path(os.environ[ENV_VAR]) / spec.dirname] if os.environ.get(ENV_VAR) else []
        if spec.default_root is not None:
            candidates.append(Path(spec.default_root))
    for folder in candidates:
        if _holds(folder, spec.probe):
            if spec.check is not None:
                spec.check(folder)
            return folder
    existing = [c for c in candidates if c.is_dir()]
    if spec.check is not None and existing:  # a folder is there but not as expected: say what it holds
        spec.check(next((c for c in existing if c.name == spec.dirname), existing[0]))
    where = ", ".join(str(c) for c in candidates) or f"nowhere (no root given and ${ENV_VAR} is not set)"
    raise MissingDataError(
        candidates[0] if candidates else Path(spec.dirname),
        f"dataset '{spec.name}' ({spec.probe}); looked in {where}",
        spec.how_to_get,
    )


def load_dataset(name: str, root: str | os.PathLike | None = None, **options: Any) -> DataSplits:
    """Load a dataset by name into `DataSplits`.

    Args:
        name: one of `list_datasets()`.
        root: the dataset's folder (or a folder that holds it under its standard name); default: see
            `resolve_root`.
        train_size, test_size: keep only this many samples of a split (default: all).
        subset_seed: None keeps the first samples; an int keeps a random subset drawn with that seed.
        **options: the dataset's own options (listed in an error if one is unknown).
    """
    spec = get_spec(name)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for dataset '{spec.name}'; valid options: {list(spec.options)}"
        )
    subset = Subset(
        options.pop("train_size", None), options.pop("test_size", None), options.pop("subset_seed", None)
    )
    return spec.load(resolve_root(spec.name, root), subset, **options)
