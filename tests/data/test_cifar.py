import io
import os
import pickle
import struct
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from normact.data import CorruptDataError, MissingDataError, SafeUnpickler, load_dataset


class Py2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` opcodes (BINSTRING), the way the original CIFAR files were made."""

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        opcode = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(opcode + obj)
        self.memoize(obj)

    dispatch: ClassVar = {**pickle._Pickler.dispatch, bytes: save_bytes}


def dump(obj, path: Path, style: str) -> None:
    """Pickle at protocol 2: 'py3' as Python 3 does; 'py2' with Python 2 strings and numpy 1's module."""
    if style == "py3":
        path.write_bytes(pickle.dumps(obj, protocol=2))
        return
    buffer = io.BytesIO()
    Py2StylePickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) -> CIFAR's (N, 3072) rows: all red values row-major, then green, then blue."""
    return np.stack([np.concatenate([img[c].ravel() for c in range(3)]) for img in images])


def write_cifar10(root: Path, style: str, per_batch: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    images, labels = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images[name] = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels[name] = rng.integers(0, 10, per_batch).tolist()
        batch = {
            b"batch_label": f"{name} of 5".encode(),
            b"labels": labels[name],
            b"data": cifar_rows(images[name]),
            b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)],
        }
        dump(batch, root / name, style)
    names = [
        n.encode()
        for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    ]
    dump(
        {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072},
        root / "batches.meta",
        style,
    )
    return images, labels


@pytest.mark.parametrize("style", ["py2", "py3"])
def test_cifar10_batches(tmp_path, style):
    images, labels = write_cifar10(tmp_path / "cifar-10-batches-py", style)
    splits = load_dataset("cifar10", root=tmp_path)  # the folder holding cifar-10-batches-py works too
    train_names = [f"data_batch_{i}" for i in range(1, 6)]
    x, y = splits.train.tensors
    expected = np.concatenate([images[n] for n in train_names])
    assert x.shape == (15, 3, 32, 32) and x.dtype == torch.float32
    np.testing.assert_allclose(x.numpy(), expected / 255.0, rtol=1e-6)
    assert y.tolist() == [label for n in train_names for label in labels[n]]
    np.testing.assert_allclose(splits.test.tensors[0].numpy(), images["test_batch"] / 255.0, rtol=1e-6)
    assert splits.num_classes == 10 and splits.input_shape == (3, 32, 32)
    assert splits.classes[:2] == ("airplane", "automobile")
    np.testing.assert_allclose(splits.mean, (expected / 255.0).mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(splits.std, (expected / 255.0).std(axis=(0, 2, 3)), rtol=1e-5)


@pytest.mark.parametrize("label_mode,num_classes", [("fine", 100), ("coarse", 20)])
def test_cifar100(tmp_path, label_mode, num_classes):
    rng = np.random.default_rng(1)
    data = {}
    for name, n in (("train", 5), ("test", 2)):
        data[name] = (
            rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 100, n),
            rng.integers(0, 20, n),
        )
        batch = {
            b"filenames": [b"x.png"] * n,
            b"batch_label": name.encode(),
            b"fine_labels": data[name][1].tolist(),
            b"coarse_labels": data[name][2].tolist(),
            b"data": cifar_rows(data[name][0]),
        }
        dump(batch, tmp_path / name, "py2")
    meta = {
        b"fine_label_names": [f"f{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"c{i}".encode() for i in range(20)],
    }
    dump(meta, tmp_path / "meta", "py2")
    splits = load_dataset("cifar100", root=tmp_path, label_mode=label_mode)
    column = 1 if label_mode == "fine" else 2
    assert splits.num_classes == num_classes and len(splits.classes) == num_classes
    assert splits.train.tensors[1].tolist() == data["train"][column].tolist()
    assert splits.test.tensors[1].tolist() == data["test"][column].tolist()
    np.testing.assert_allclose(splits.test.tensors[0].numpy(), data["test"][0] / 255.0, rtol=1e-6)


class Exploit:
    """Unpickling this runs `exec`: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_malicious_pickle_is_refused_before_it_runs(tmp_path):
    write_cifar10(tmp_path, "py3")
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": Exploit(marker), b"labels": [0]}, protocol=2)
    # The payload is real: an ordinary unpickler runs it.
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    (tmp_path / "data_batch_3").write_bytes(payload)
    with pytest.raises(CorruptDataError) as err:
        load_dataset("cifar10", root=tmp_path)
    message = str(err.value)
    assert (
        "data_batch_3" in message and "builtin" in message and ".exec'" in message and "malicious" in message
    )
    assert not marker.exists()


def test_os_system_payload_is_refused():
    class System:
        def __reduce__(self):
            return os.system, ("true",)

    with pytest.raises(pickle.UnpicklingError, match=r"refusing '(posix|nt)\.system'"):
        SafeUnpickler(io.BytesIO(pickle.dumps(System(), protocol=2))).load()


def test_codecs_encode_only_for_latin1():
    # A protocol-2 pickle of bytes calls _codecs.encode(text, 'latin1'); any other encoding is refused.
    payload = pickle.dumps(b"abc", protocol=2).replace(b"latin1", b"rot_13")
    with pytest.raises(pickle.UnpicklingError, match="latin-1"):
        SafeUnpickler(io.BytesIO(payload)).load()


def test_truncated_batch(tmp_path):
    write_cifar10(tmp_path, "py2")
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CorruptDataError, match="test_batch: not a readable pickle"):
        load_dataset("cifar10", root=tmp_path)


def test_wrong_data_shape(tmp_path):
    write_cifar10(tmp_path, "py3")
    dump({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, tmp_path / "data_batch_2", "py3")
    with pytest.raises(
        CorruptDataError, match=r"data_batch_2: 'data' must be a uint8 array of shape \(N, 3072\)"
    ):
        load_dataset("cifar10", root=tmp_path)


def test_label_out_of_range(tmp_path):
    write_cifar10(tmp_path, "py3")
    dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, tmp_path / "test_batch", "py3")
    with pytest.raises(CorruptDataError, match=r"'labels' must lie in 0\.\.9"):
        load_dataset("cifar10", root=tmp_path)


def test_missing_test_batch_says_which_and_how_to_get(tmp_path):
    write_cifar10(tmp_path, "py3")
    (tmp_path / "test_batch").unlink()
    with pytest.raises(MissingDataError) as err:
        load_dataset("cifar10", root=tmp_path)
    assert str(tmp_path / "test_batch") in str(err.value) and "cifar-10-python.tar.gz" in str(err.value)
