"""Datasets from their standard files (nothing is downloaded), batch augmentation and mixup."""

from normact.data import transforms
from normact.data.cifar import SafeUnpickler
from normact.data.errors import CorruptDataError, DataError, MissingDataError
from normact.data.idx import read_idx
from normact.data.imagefolder import ImageFolder
from normact.data.mixup import mixup, mixup_loss
from normact.data.registry import get_spec, list_datasets, load_dataset, resolve_root
from normact.data.splits import DatasetSpec, DataSplits, Subset
from normact.data.vocab import Vocab, tokenize

__all__ = [
    "CorruptDataError",
    "DataError",
    "DataSplits",
    "DatasetSpec",
    "ImageFolder",
    "MissingDataError",
    "SafeUnpickler",
    "Subset",
    "Vocab",
    "get_spec",
    "list_datasets",
    "load_dataset",
    "mixup",
    "mixup_loss",
    "read_idx",
    "resolve_root",
    "tokenize",
    "transforms",
]
