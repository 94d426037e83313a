import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from normact.data import CorruptDataError, MissingDataError, load_dataset, read_idx
from normact.data.idx import FASHION_MNIST_DIR

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx encoding written out by hand: 00 00 type ndim, big-endian sizes, big-endian values."""
    header = bytes([0, 0, CODES[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dtype", list(CODES))
def test_read_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(30, dtype=np.uint8).reshape(2, 3, 5) * 8
    got = read_idx(write_idx(tmp_path / "a.idx", array, gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_tells_gzip_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    raw_named_gz = tmp_path / "x-idx2-ubyte.gz"
    raw_named_gz.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)


def test_read_idx_one_dimensional_and_empty(tmp_path):
    np.testing.assert_array_equal(
        read_idx(write_idx(tmp_path / "l", np.array([3, 1, 4], np.uint8), False)), [3, 1, 4]
    )
    assert read_idx(write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8), True)).shape == (0, 28, 28)


def test_corrupt_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(CorruptDataError, match="magic") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_unknown_type_code(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(CorruptDataError, match="type code 0x07"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02")  # 3 dims announced, one size present
    with pytest.raises(CorruptDataError, match="header truncated"):
        read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_data(tmp_path, gz):
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-100]
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(CorruptDataError, match="truncated") as err:
        read_idx(path)
    assert "(4, 28, 28)" in str(err.value) and str(path) in str(err.value)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(4000, dtype=np.int32)))[:-30])
    with pytest.raises(CorruptDataError, match="gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(MissingDataError) as err:
        read_idx(tmp_path / "nope", how_to_get="Get it somewhere.")
    assert str(tmp_path / "nope") in str(err.value) and "Get it somewhere." in str(err.value)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_user_files(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    splits = load_dataset("mnist", root=tmp_path / "mnist")
    for dataset, prefix in ((splits.train, "train"), (splits.test, "t10k")):
        x, y = dataset.tensors
        images, labels = arrays[prefix]
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == (len(images), 1, 28, 28)
        np.testing.assert_allclose(x[:, 0].numpy(), images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y.numpy(), labels)
    assert splits.input_shape == (1, 28, 28) and splits.num_classes == 10
    train_pixels = arrays["train"][0] / 255.0
    assert splits.mean[0] == pytest.approx(train_pixels.mean(), rel=1e-5)
    assert splits.std[0] == pytest.approx(train_pixels.std(), rel=1e-5)


def test_mnist_label_count_mismatch_names_the_labels_file(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8), True)  # 4 images
    with pytest.raises(CorruptDataError, match=r"t10k-labels-idx1-ubyte\.gz: expected 4 labels"):
        load_dataset("mnist", root=tmp_path)


def test_mnist_missing_test_file_says_which_and_how_to_get(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(MissingDataError) as err:
        load_dataset("mnist", root=tmp_path)
    message = str(err.value)
    assert (
        "t10k-images-idx3-ubyte.gz" in message and "yann.lecun.com" in message and "NORMACT_DATA" in message
    )


@pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package():
    splits = load_dataset("fashion_mnist")
    x_train, y_train = splits.train.tensors
    x_test, y_test = splits.test.tensors
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    # Fashion-MNIST is balanced: 6000 training and 1000 test images of each of the 10 classes.
    assert torch.bincount(y_train).tolist() == [6000] * 10
    assert torch.bincount(y_test).tolist() == [1000] * 10
    assert 0.0 == x_train.min() and x_train.max() == 1.0
    assert splits.classes[0] == "T-shirt/top" and splits.classes[9] == "Ankle boot"
    assert splits.mean[0] == pytest.approx(x_train.double().mean().item(), rel=1e-5)
