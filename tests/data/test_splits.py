import numpy as np
import pytest
import torch

from normact.data.splits import Subset, channel_stats, random_split, standardize


def test_random_split_partitions_and_is_seeded():
    train, test = random_split(103, 0.2, seed=4)
    assert len(test) == 21 and sorted(np.r_[train, test].tolist()) == list(range(103))
    assert np.array_equal(train, np.sort(train))
    assert np.array_equal(random_split(103, 0.2, 4)[1], test) and not np.array_equal(
        random_split(103, 0.2, 5)[1], test
    )
    with pytest.raises(ValueError, match="test_fraction must be in"):
        random_split(10, 1.5, 0)


def test_subset_first_and_seeded():
    assert Subset().indices("train", 5, "x").tolist() == [0, 1, 2, 3, 4]
    assert Subset(train_size=3).indices("train", 10, "x").tolist() == [0, 1, 2]
    assert Subset(train_size=3).indices("test", 10, "x").tolist() == list(range(10))
    seeded = Subset(train_size=4, test_size=4, seed=9)
    picks = seeded.indices("train", 100, "x")
    assert len(set(picks.tolist())) == 4 and np.array_equal(picks, np.sort(picks))
    assert np.array_equal(picks, Subset(train_size=4, seed=9).indices("train", 100, "x"))
    assert not np.array_equal(picks, seeded.indices("test", 100, "x"))  # independent streams per split
    with pytest.raises(ValueError, match="train_size=11 exceeds the 10 train samples of 'x'"):
        Subset(train_size=11).indices("train", 10, "x")


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_subset_sizes_are_validated(bad):
    with pytest.raises(ValueError, match="test_size must be a positive int"):
        Subset(test_size=bad)


def test_channel_stats_matches_float64():
    images = torch.rand(50, 3, 7, 9, generator=torch.Generator().manual_seed(0)) * torch.tensor(
        [1.0, 2.0, 0.5]
    ).view(3, 1, 1)
    mean, std = channel_stats(images)
    reference = images.double().numpy()
    np.testing.assert_allclose(mean, reference.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(std, reference.std(axis=(0, 2, 3)), rtol=1e-6)


def test_standardize_uses_training_statistics_and_keeps_constant_columns():
    train = np.array([[1.0, 5.0], [3.0, 5.0]])
    test = np.array([[5.0, 6.0]])
    a, b = standardize(train, test)
    assert a.tolist() == [[-1.0, 0.0], [1.0, 0.0]] and b.tolist() == [[3.0, 1.0]]
    assert a.dtype == torch.float32
