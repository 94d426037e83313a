from pathlib import Path

import pytest

from normact.data import MissingDataError, Subset, list_datasets, load_dataset, resolve_root
from normact.data.idx import FASHION_MNIST_DIR

from .test_idx import write_mnist

NAMES = [
    "adult", "breast_cancer", "cifar10", "cifar100", "digits", "digits_tabular", "fashion_mnist", "htru2",
    "imagenet", "imdb", "iwslt", "miniboone", "mnist", "mnist1d", "synthetic_translation", "tiny_imagenet",
    "wine",
]  # fmt: skip


def test_every_dataset_is_registered():
    assert list_datasets() == NAMES


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown dataset 'cifar11'; choose from \['adult', 'breast_cancer'"
    ):
        load_dataset("cifar11")


def test_names_ignore_case_and_dashes(tmp_path):
    write_mnist(tmp_path)
    assert load_dataset("MNIST", root=tmp_path).name == "mnist"
    assert resolve_root("Fashion-MNIST", root=tmp_path) == tmp_path


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown option\(s\) \['max_len'\] for dataset 'wine'; valid options: "
    ):
        load_dataset("wine", max_len=3)


def test_offline_sets_take_no_root(tmp_path):
    with pytest.raises(ValueError, match="'digits' is generated offline and takes no root"):
        load_dataset("digits", root=tmp_path)


def test_explicit_root_may_be_the_dataset_folder_or_its_parent(tmp_path):
    write_mnist(tmp_path / "mnist")
    assert resolve_root("mnist", tmp_path / "mnist") == tmp_path / "mnist"
    assert resolve_root("mnist", tmp_path) == tmp_path / "mnist"


def test_environment_variable(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("NORMACT_DATA", str(tmp_path))
    assert resolve_root("mnist") == tmp_path / "mnist"
    splits = load_dataset("mnist", train_size=2, test_size=1)
    assert len(splits.train) == 2 and len(splits.test) == 1


def test_explicit_root_wins_over_the_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path / "env" / "mnist")
    write_mnist(tmp_path / "mine")
    monkeypatch.setenv("NORMACT_DATA", str(tmp_path / "env"))
    assert resolve_root("mnist", tmp_path / "mine") == tmp_path / "mine"


@pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(), reason="dataset-fashion-mnist is not installed")
def test_default_location_when_the_environment_lacks_the_set(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMACT_DATA", str(tmp_path))
    assert resolve_root("fashion_mnist") == Path(FASHION_MNIST_DIR)
    write_mnist(tmp_path / "fashion-mnist")
    assert resolve_root("fashion_mnist") == tmp_path / "fashion-mnist"


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(MissingDataError) as err:
        load_dataset("cifar10")
    assert "no root given and $NORMACT_DATA is not set" in str(err.value)
    monkeypatch.setenv("NORMACT_DATA", str(tmp_path))
    with pytest.raises(MissingDataError) as err:
        load_dataset("cifar10")
    message = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "data_batch_1" in message
    assert "cifar-10-python.tar.gz" in message and "NORMACT_DATA=<dir>" in message
    with pytest.raises(FileNotFoundError):  # MissingDataError is a FileNotFoundError
        load_dataset("imdb", root=tmp_path / "nowhere")


def test_seeded_subset_through_the_registry(tmp_path):
    arrays = write_mnist(tmp_path, n_train=20, n_test=5)
    a = load_dataset("mnist", root=tmp_path, train_size=5, subset_seed=1)
    b = load_dataset("mnist", root=tmp_path, train_size=5, subset_seed=1)
    first = load_dataset("mnist", root=tmp_path, train_size=5)
    assert a.train.tensors[1].tolist() == b.train.tensors[1].tolist()
    picks = Subset(train_size=5, seed=1).indices("train", 20, "mnist")
    assert a.train.tensors[1].tolist() == arrays["train"][1][picks].tolist()
    assert first.train.tensors[1].tolist() == arrays["train"][1][:5].tolist()
    assert len(a.test) == 5
