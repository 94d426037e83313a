"""The three UCI tabular sets of the self-normalization experiments (paper 001, appendix E), from their
standard files, standardised with training statistics.

MiniBooNE and HTRU2 ship without a test split: a seeded random `test_fraction` of the rows is held out.
Adult has its official `adult.test`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from normact.data.errors import CorruptDataError, MissingDataError, hint
from normact.data.splits import DatasetSpec, DataSplits, Subset, random_split, tabular_splits

UCI = "https://archive.ics.uci.edu/dataset"
MINIBOONE_HOW = hint(
    f"download MiniBooNE_PID.txt from {UCI}/199/miniboone+particle+identification", "miniboone"
)
ADULT_HOW = hint(f"download adult.data and adult.test from {UCI}/2/adult", "adult")
HTRU2_HOW = hint(f"download HTRU2.zip from {UCI}/372/htru2 and extract HTRU_2.csv", "htru2")


def _loadtxt(path: Path, how_to_get: str, **kwargs) -> np.ndarray:
    if not path.is_file():
        raise MissingDataError(path, "the dataset's text file", how_to_get)
    try:
        return np.loadtxt(path, dtype=np.float64, ndmin=2, **kwargs)
    except ValueError as err:
        raise CorruptDataError(path, f"not a table of numbers ({err})", how_to_get) from err


def load_miniboone(root: Path, subset: Subset, test_fraction: float = 0.2, split_seed: int = 0) -> DataSplits:
    """MiniBooNE particle identification: 50 features; label 1 = signal (the first rows), 0 = background.

    The first line of MiniBooNE_PID.txt holds the numbers of signal and background rows that follow.
    Values are kept as given (including the -999 placeholders of a few rows).
    """
    path = root / "MiniBooNE_PID.txt"
    x = _loadtxt(path, MINIBOONE_HOW, skiprows=1)
    with path.open() as f:
        header = f.readline().split()
    if len(header) != 2 or not all(h.isdigit() for h in header):
        raise CorruptDataError(
            path, f"first line must hold two counts (signal, background), got {header}", MINIBOONE_HOW
        )
    signal, background = map(int, header)
    if x.shape != (signal + background, 50):
        raise CorruptDataError(
            path, f"expected {signal} + {background} rows of 50 values, got shape {x.shape}", MINIBOONE_HOW
        )
    y = np.r_[np.ones(signal, np.int64), np.zeros(background, np.int64)]
    train, test = random_split(len(y), test_fraction, split_seed)
    return tabular_splits("miniboone", x, y, train, test, subset, classes=("background", "signal"))


def load_htru2(root: Path, subset: Subset, test_fraction: float = 0.2, split_seed: int = 0) -> DataSplits:
    """HTRU2 pulsar candidates: 8 features, label 1 = pulsar (last column of HTRU_2.csv)."""
    path = root / "HTRU_2.csv"
    table = _loadtxt(path, HTRU2_HOW, delimiter=",")
    if table.shape[1] != 9 or not np.isin(table[:, 8], (0, 1)).all():
        raise CorruptDataError(
            path, f"expected rows of 8 features and a 0/1 label, got shape {table.shape}", HTRU2_HOW
        )
    train, test = random_split(len(table), test_fraction, split_seed)
    return tabular_splits(
        "htru2", table[:, :8], table[:, 8].astype(np.int64), train, test, subset, ("non-pulsar", "pulsar")
    )


ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
)  # fmt: skip
ADULT_CONTINUOUS = {"age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"}


def _read_adult(path: Path) -> tuple[list[list[str]], np.ndarray]:
    if not path.is_file():
        raise MissingDataError(path, "the Adult file (comma-separated, 15 fields a row)", ADULT_HOW)
    rows, labels = [], []
    with path.open(newline="") as f:
        for number, row in enumerate(csv.reader(f, skipinitialspace=True), 1):
            if not row or row[0].startswith("|"):  # blank lines and adult.test's first line
                continue
            label = row[-1].strip().rstrip(".")
            if len(row) != 15 or label not in ("<=50K", ">50K"):
                raise CorruptDataError(
                    path,
                    f"line {number}: expected 14 attributes and a label <=50K/>50K, got {row!r}",
                    ADULT_HOW,
                )
            rows.append([v.strip() for v in row[:14]])
            labels.append(int(label == ">50K"))
    return rows, np.asarray(labels, dtype=np.int64)


def load_adult(root: Path, subset: Subset) -> DataSplits:
    """Adult census income: label 1 = income >50K.

    Continuous attributes as numbers; each categorical one one-hot over the values seen in adult.data
    ('?' counts as a value; a value seen only in adult.test encodes as all zeros). Every column is
    then standardised with training statistics.
    """
    train_rows, y_train = _read_adult(root / "adult.data")
    test_rows, y_test = _read_adult(root / "adult.test")
    columns = []
    for j, name in enumerate(ADULT_COLUMNS):
        if name in ADULT_CONTINUOUS:
            try:
                columns.append(np.array([[float(r[j])] for r in train_rows + test_rows]))
            except ValueError as err:
                raise CorruptDataError(
                    root / "adult.data", f"attribute '{name}' must be a number ({err})", ADULT_HOW
                ) from err
        else:
            values = sorted({r[j] for r in train_rows})
            index = {v: k for k, v in enumerate(values)}
            one_hot = np.zeros((len(train_rows) + len(test_rows), len(values)))
            for i, r in enumerate(train_rows + test_rows):
                if r[j] in index:
                    one_hot[i, index[r[j]]] = 1.0
            columns.append(one_hot)
    x = np.concatenate(columns, axis=1)
    n = len(train_rows)
    return tabular_splits(
        "adult", x, np.r_[y_train, y_test], np.arange(n), np.arange(n, len(x)), subset, ("<=50K", ">50K")
    )


MINIBOONE = DatasetSpec(
    name="miniboone",
    load=load_miniboone,
    description="UCI MiniBooNE particle identification (MiniBooNE_PID.txt)",
    dirname="miniboone",
    probe="MiniBooNE_PID.txt",
    how_to_get=MINIBOONE_HOW,
)
ADULT = DatasetSpec(
    name="adult",
    load=load_adult,
    description="UCI Adult census income (adult.data, adult.test)",
    dirname="adult",
    probe="adult.data",
    how_to_get=ADULT_HOW,
)
HTRU2 = DatasetSpec(
    name="htru2",
    load=load_htru2,
    description="UCI HTRU2 pulsar candidates (HTRU_2.csv)",
    dirname="htru2",
    probe="HTRU_2.csv",
    how_to_get=HTRU2_HOW,
)
