import random
import socket

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_wine

from normact.data import load_dataset
from normact.data.splits import random_split


def test_digits_as_images():
    splits = load_dataset("digits")
    digits = load_digits()
    train, test = random_split(len(digits.target), 0.2, 0)
    x = splits.train.tensors[0]
    assert x.shape == (len(train), 1, 8, 8) and splits.input_shape == (1, 8, 8) and splits.num_classes == 10
    np.testing.assert_allclose(x.reshape(len(train), 64).numpy() * 16, digits.data[train], atol=1e-5)
    np.testing.assert_array_equal(splits.test.tensors[1].numpy(), digits.target[test])
    assert splits.mean[0] == pytest.approx((digits.data[train] / 16).mean(), rel=1e-5)


@pytest.mark.parametrize(
    "name,features,classes", [("digits_tabular", 64, 10), ("breast_cancer", 30, 2), ("wine", 13, 3)]
)
def test_tabular_sets_are_standardised_with_training_statistics(name, features, classes):
    splits = load_dataset(name)
    x, _ = splits.train.tensors
    assert splits.input_shape == (features,) and splits.num_classes == classes and splits.mean is None
    varying = x.std(dim=0, unbiased=False) > 0
    torch.testing.assert_close(x.mean(dim=0), torch.zeros(features), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        x.std(dim=0, unbiased=False)[varying], torch.ones(int(varying.sum())), atol=1e-5, rtol=0
    )


def test_wine_test_split_uses_training_statistics():
    wine = load_wine()
    train, test = random_split(len(wine.target), 0.3, 7)
    splits = load_dataset("wine", test_fraction=0.3, split_seed=7)
    expected = (wine.data[test] - wine.data[train].mean(0)) / wine.data[train].std(0)
    np.testing.assert_allclose(splits.test.tensors[0].numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty working directory, to catch a download or a cache file."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr("requests.get", refuse)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_mnist1d_is_generated_offline_and_seeded(offline):
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002 -- the package uses the global generators
    before = (random.random(), np.random.rand())  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    a = load_dataset("mnist1d", num_samples=300, seed=1)
    assert (random.random(), np.random.rand()) == before  # noqa: NPY002 -- global states restored
    assert list(offline.iterdir()) == []
    b = load_dataset("mnist1d", num_samples=300, seed=1)
    c = load_dataset("mnist1d", num_samples=300, seed=2)
    x, y = a.train.tensors
    assert x.shape == (240, 40) and len(a.test) == 60 and a.input_shape == (40,) and a.num_classes == 10
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert torch.equal(x, b.train.tensors[0]) and not torch.equal(x, c.train.tensors[0])


def test_mnist1d_subset():
    splits = load_dataset("mnist1d", num_samples=200, train_size=50, test_size=10)
    full = load_dataset("mnist1d", num_samples=200)
    assert torch.equal(splits.train.tensors[0], full.train.tensors[0][:50]) and len(splits.test) == 10
