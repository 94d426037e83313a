import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from normact.train import Batches


class Pairs(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i)]), torch.tensor(i)


def _epoch(batches):
    return [(x[:, 0].long().tolist(), y.tolist()) for x, y in batches]


@pytest.mark.parametrize(
    "make", [lambda n: TensorDataset(torch.arange(n).float()[:, None], torch.arange(n)), Pairs]
)
def test_shuffled_epochs_are_permutations_and_reproducible(make):
    g = torch.Generator().manual_seed(0)
    batches = Batches(make(10), 4, generator=g)
    assert len(batches) == 3
    state = g.get_state()
    first, second = _epoch(batches), _epoch(batches)
    for epoch in (first, second):
        assert [len(y) for _, y in epoch] == [4, 4, 2]
        assert all(xs == ys for xs, ys in epoch)  # x and y stay paired
        assert sorted(i for _, ys in epoch for i in ys) == list(range(10))
    assert first != second  # a new order each epoch
    g.set_state(state)
    assert _epoch(batches) == first  # the generator state alone fixes the order


@pytest.mark.parametrize(
    "make", [lambda n: TensorDataset(torch.arange(n).float()[:, None], torch.arange(n)), Pairs]
)
def test_unshuffled_limit_and_drop_last(make):
    assert _epoch(Batches(make(10), 4, limit=7)) == [([0, 1, 2, 3], [0, 1, 2, 3]), ([4, 5, 6], [4, 5, 6])]
    dropped = Batches(make(10), 4, drop_last=True, generator=torch.Generator().manual_seed(1))
    assert len(dropped) == 2 and [len(y) for _, y in dropped] == [4, 4]
    with pytest.raises(ValueError, match="3 samples give no batch of size 4"):
        Batches(make(3), 4, drop_last=True)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Batches(make(3), 0)


@pytest.mark.parametrize(
    "make", [lambda n: TensorDataset(torch.arange(n).float()[:, None], torch.arange(n)), Pairs]
)
def test_shards_of_the_ranks_make_up_the_one_process_batches(make):
    def epoch(shard):
        return _epoch(Batches(make(12), 6, generator=torch.Generator().manual_seed(3), shard=shard))

    whole, ranks = epoch((0, 1)), [epoch((r, 3)) for r in range(3)]
    assert all(len(r) == len(whole) == 2 for r in ranks)
    for i, (ids, _) in enumerate(whole):
        assert [ranks[r][i][0] for r in range(3)] == [ids[r::3] for r in range(3)]
    with pytest.raises(ValueError, match="the last batch has 1 samples, fewer than the 2 processes"):
        Batches(make(13), 6, shard=(0, 2))


@pytest.mark.parametrize(
    "make", [lambda n: TensorDataset(torch.arange(n).float()[:, None], torch.arange(n)), Pairs]
)
def test_ranks_splitting_the_batches_see_each_batch_once(make):
    def epoch(every):
        return _epoch(Batches(make(11), 3, generator=torch.Generator().manual_seed(4), every=every))

    whole = epoch((0, 1))  # batches of 3, 3, 3, 2
    ranks = [epoch((r, 3)) for r in range(3)]
    assert [len(r) for r in ranks] == [2, 1, 1]
    assert [len(Batches(make(11), 3, every=(r, 3))) for r in range(3)] == [2, 1, 1]
    assert [ranks[i % 3][i // 3] for i in range(4)] == whole  # whole batches, in turn
    assert _epoch(Batches(make(4), 3, every=(2, 3))) == []  # more ranks than batches: nothing to do
    with pytest.raises(ValueError, match=r"splits its samples \(shard\) or its batches \(every\), not both"):
        Batches(make(12), 6, shard=(0, 2), every=(0, 2))
