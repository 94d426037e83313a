from pathlib import Path

import numpy as np
import pytest

from normact.data import CorruptDataError, MissingDataError, load_dataset
from normact.data.splits import random_split


def standardised(train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (rows - mean) / np.where(std == 0, 1.0, std)


def write_miniboone(folder: Path, signal: int = 6, background: int = 9) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(signal + background, 50)) * 10.0 ** rng.integers(-2, 3, 50)
    x[4] = -999.0  # the file's placeholder rows
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"    {signal} {background}"] + ["".join(f" {v:12.5E}" for v in row) for row in x]
    (folder / "MiniBooNE_PID.txt").write_text("\n".join(lines) + "\n")
    return x


def test_miniboone(tmp_path):
    x = write_miniboone(tmp_path / "miniboone")
    x = np.array([[float(f"{v:12.5E}") for v in row] for row in x])  # what the file holds
    splits = load_dataset("miniboone", root=tmp_path, test_fraction=0.2, split_seed=5)
    train, test = random_split(15, 0.2, 5)
    y = np.r_[np.ones(6), np.zeros(9)]
    x_train, y_train = splits.train.tensors
    x_test, y_test = splits.test.tensors
    assert len(x_train) == 12 and len(x_test) == 3 and splits.input_shape == (50,) and splits.num_classes == 2
    np.testing.assert_array_equal(y_train.numpy(), y[train])
    np.testing.assert_array_equal(y_test.numpy(), y[test])
    np.testing.assert_allclose(x_train.numpy(), standardised(x[train], x[train]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x_test.numpy(), standardised(x[train], x[test]), rtol=1e-5, atol=1e-5)


def test_miniboone_row_count_disagrees_with_header(tmp_path):
    write_miniboone(tmp_path)
    path = tmp_path / "MiniBooNE_PID.txt"
    path.write_text(path.read_text().replace("6 9", "6 10", 1))
    with pytest.raises(CorruptDataError, match=r"MiniBooNE_PID.txt: expected 6 \+ 10 rows of 50 values"):
        load_dataset("miniboone", root=tmp_path)


def test_htru2(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 8)).round(6)
    y = rng.integers(0, 2, 20)
    lines = [",".join([*(f"{v}" for v in row), str(label)]) for row, label in zip(x, y, strict=True)]
    (tmp_path / "HTRU_2.csv").write_text("\n".join(lines) + "\n")
    splits = load_dataset("htru2", root=tmp_path, test_fraction=0.25)
    train, test = random_split(20, 0.25, 0)
    np.testing.assert_array_equal(splits.test.tensors[1].numpy(), y[test])
    np.testing.assert_allclose(
        splits.test.tensors[0].numpy(), standardised(x[train], x[test]), rtol=1e-5, atol=1e-6
    )
    assert splits.classes == ("non-pulsar", "pulsar")


def test_htru2_bad_rows(tmp_path):
    (tmp_path / "HTRU_2.csv").write_text("1,2,3,4,5,6,7,8,0\n1,2,3,4,5,6,7,x,1\n")
    with pytest.raises(CorruptDataError, match=r"HTRU_2\.csv: not a table of numbers"):
        load_dataset("htru2", root=tmp_path)


ADULT_TRAIN = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
    "2174, 0, 40, United-States, <=50K\n"
    "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, "
    "0, 0, 13, United-States, <=50K\n"
    "38, Private, 215646, HS-grad, 9, Divorced, Handlers-cleaners, Not-in-family, White, Male, "
    "0, 0, 40, United-States, >50K\n"
    "53, ?, 234721, 11th, 7, Married-civ-spouse, ?, Husband, Black, Male, 0, 0, 40, ?, <=50K\n"
    "\n"
)
ADULT_TEST = (
    "|1x3 Cross validator\n"
    "25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, "
    "0, 0, 40, United-States, <=50K.\n"
    "44, Never-worked, 160323, Some-college, 10, Married-civ-spouse, ?, Husband, Black, Male, "
    "7688, 0, 40, Peru, >50K.\n"
)


def test_adult(tmp_path):
    (tmp_path / "adult.data").write_text(ADULT_TRAIN)
    (tmp_path / "adult.test").write_text(ADULT_TEST)
    splits = load_dataset("adult", root=tmp_path)
    assert splits.train.tensors[1].tolist() == [0, 0, 1, 0] and splits.test.tensors[1].tolist() == [0, 1]
    # Encoded by hand, attribute by attribute in file order: numbers as they are, categorical attributes
    # one-hot over their sorted training values ('?' is a value; 'Never-worked' and 'Peru' appear only in
    # the test rows and encode as zeros).
    categories = {
        1: ["?", "Private", "Self-emp-not-inc", "State-gov"],
        3: ["11th", "Bachelors", "HS-grad"],
        5: ["Divorced", "Married-civ-spouse", "Never-married"],
        6: ["?", "Adm-clerical", "Exec-managerial", "Handlers-cleaners"],
        7: ["Husband", "Not-in-family"],
        8: ["Black", "White"],
        9: ["Male"],
        13: ["?", "United-States"],
    }

    def encode(row: str) -> list[float]:
        fields = [s.strip() for s in row.split(",")]
        out = []
        for i in range(14):
            out += [float(fields[i] == v) for v in categories[i]] if i in categories else [float(fields[i])]
        return out

    raw_train = np.array([encode(r) for r in ADULT_TRAIN.strip().splitlines()])
    raw_test = np.array([encode(r) for r in ADULT_TEST.strip().splitlines()[1:]])
    assert splits.input_shape == (raw_train.shape[1],) == (27,)
    np.testing.assert_allclose(splits.train.tensors[0].numpy(), standardised(raw_train, raw_train), atol=1e-5)
    np.testing.assert_allclose(splits.test.tensors[0].numpy(), standardised(raw_train, raw_test), atol=1e-5)


def test_adult_bad_label(tmp_path):
    (tmp_path / "adult.data").write_text(ADULT_TRAIN.replace(">50K", "rich"))
    (tmp_path / "adult.test").write_text(ADULT_TEST)
    with pytest.raises(CorruptDataError, match=r"adult\.data: line 3: expected 14 attributes and a label"):
        load_dataset("adult", root=tmp_path)


def test_adult_missing_test_file(tmp_path):
    (tmp_path / "adult.data").write_text(ADULT_TRAIN)
    with pytest.raises(MissingDataError) as err:
        load_dataset("adult", root=tmp_path)
    assert str(tmp_path / "adult.test") in str(err.value) and "archive.ics.uci.edu" in str(err.value)
