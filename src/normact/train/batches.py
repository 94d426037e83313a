"""Seeded mini-batches: a fast path for in-memory ``TensorDataset``s, a ``DataLoader`` for the rest.

The order of the training samples is drawn from a ``torch.Generator`` owned by the run, whose state is
saved in checkpoints, so a resumed run sees exactly the batches it would have seen. Everything runs in
the calling process, except the reading of samples by ``workers`` loader processes; the order is drawn
in the calling process, so it never depends on scheduling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    TensorDataset,
)

Batch = tuple[Tensor, Tensor]
Transform = Callable[[Tensor, "torch.Generator | None"], Tensor]


class Batches:
    """A re-iterable sequence of ``(x, y)`` batches on ``device``.

    For a ``TensorDataset`` each epoch draws one permutation from ``generator`` and slices the
    tensors (no per-sample collation); the tensors are moved to ``device`` once. Any other ``Dataset``
    goes through a ``DataLoader`` whose sampler draws from ``generator``, with ``workers`` processes
    reading samples and, for a CUDA device, pinned memory and non-blocking copies.

    Args:
        dataset: a map-style dataset of ``(x, y)`` pairs.
        batch_size: samples per batch.
        generator: source of the shuffling order; None keeps the dataset order.
        drop_last: drop the final incomplete batch.
        limit: use only the first ``limit`` samples (None: all of them).
        device: where the batches are delivered.
        transforms: batch transforms ``t(x, generator)`` applied in order to each ``x`` on the device.
        transform_generator: the generator handed to the transforms.
        workers: ``DataLoader`` worker processes (0: read in this process).
        shard: ``(rank, world)``: deliver samples ``rank, rank + world, ...`` of each batch, so that
            ``world`` processes together see the batches of ``batch_size`` one process would (the order
            drawn from ``generator`` is the same on every rank); ``len`` counts the whole batches.
        every: ``(rank, world)``: deliver only batches ``rank, rank + world, ...``, whole, so that ``world``
            processes split an evaluation over the batches one process would see; ``len`` counts this
            rank's batches (possibly none).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        limit: int | None = None,
        device: str | torch.device = "cpu",
        transforms: Sequence[Transform] = (),
        transform_generator: torch.Generator | None = None,
        workers: int = 0,
        shard: tuple[int, int] = (0, 1),
        every: tuple[int, int] = (0, 1),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.rank, self.world = shard
        if shard[1] > 1 and every[1] > 1:
            raise ValueError("a Batches splits its samples (shard) or its batches (every), not both")
        self.every = every
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.generator = generator
        self.drop_last = drop_last
        self.transforms = list(transforms)
        self.transform_generator = transform_generator
        size = len(dataset)
        self.size = size if limit is None else min(limit, size)
        self.tensors: tuple[Tensor, ...] | None = None
        self.loader: DataLoader | None = None
        if isinstance(dataset, TensorDataset):
            self.tensors = tuple(t[: self.size].to(self.device) for t in dataset.tensors)
        else:
            subset = dataset if self.size == size else Subset(dataset, range(self.size))
            sampler = RandomSampler(subset, generator=generator) if generator is not None else None
            batching = {"batch_size": batch_size, "sampler": sampler, "drop_last": drop_last}
            if self.world > 1 or every[1] > 1:
                batches = BatchSampler(sampler or SequentialSampler(subset), batch_size, drop_last)
                batching = {"batch_sampler": _Shard(batches, *shard, *every)}
            self.loader = DataLoader(
                subset,
                **batching,
                generator=generator,
                num_workers=workers,
                pin_memory=self.device.type == "cuda",
                # a new iterator each epoch draws the workers' seed from ``generator`` as the single-process
                # loader does, so the run's random streams do not depend on ``workers``
                persistent_workers=False,
            )
        if self._batches() == 0:
            raise ValueError(f"{self.size} samples give no batch of size {batch_size} with drop_last")
        last = self.size % batch_size
        if self.world > 1 and not drop_last and 0 < last < self.world:
            raise ValueError(
                f"the last batch has {last} samples, fewer than the {self.world} processes sharing it; "
                "set data.drop_last=true or another data.batch_size"
            )

    def __len__(self) -> int:
        rank, world = self.every
        return len(range(rank, self._batches(), world))

    def _batches(self) -> int:
        """The whole batches of an epoch, over every rank."""
        rounding = math.floor if self.drop_last else math.ceil
        return rounding(self.size / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for x, y in self._raw():
            for transform in self.transforms:
                x = transform(x, self.transform_generator)
            yield x, y

    def _raw(self) -> Iterator[Batch]:
        if self.loader is not None:
            for x, y in self.loader:
                yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            return
        x, y = self.tensors
        order = None
        if self.generator is not None:
            order = torch.randperm(self.size, generator=self.generator).to(self.device)
        for i in range(self.every[0], self._batches(), self.every[1]):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, self.size)
            if order is None and self.world == 1:  # a view, no copy
                yield x[lo:hi], y[lo:hi]
            else:
                idx = order[lo:hi] if order is not None else torch.arange(lo, hi, device=self.device)
                idx = idx[self.rank :: self.world]
                yield x.index_select(0, idx), y.index_select(0, idx)


class _Shard(Sampler[list[int]]):
    """Positions ``rank, rank + world, ...`` of batches ``batch_rank, batch_rank + batch_world, ...``."""

    def __init__(
        self, batches: BatchSampler, rank: int, world: int, batch_rank: int, batch_world: int
    ) -> None:
        self.batches, self.rank, self.world = batches, rank, world
        self.batch_rank, self.batch_world = batch_rank, batch_world

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self.batches):
            if i % self.batch_world == self.batch_rank:
                yield batch[self.rank :: self.world]

    def __len__(self) -> int:
        return len(range(self.batch_rank, len(self.batches), self.batch_world))
