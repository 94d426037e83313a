"""The classification task of the runner (``train.task: classification``): cross-entropy on ``(x, y)``.

Training uses ``train.label_smoothing``, or mixup (``data.mixup_alpha`` > 0, ``normact.data.mixup``):
one Beta(alpha, alpha) weight and one pairing permutation per batch, drawn from the run's augmentation
generator, and the two labels' losses mixed with that weight; ``train_acc`` then counts a prediction
right in proportion to the label it matches. Evaluation is plain cross-entropy, top-1 accuracy and
top-5 accuracy (top-``min(5, C)`` with ``C`` classes, so 1 by construction when ``C <= 5``); under
torchrun each rank evaluates its share of the test batches and the sums are added over the ranks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normact.train.distributed import World, reduce_sum

__all__ = ["TOP_K", "ClassificationTask", "Step", "evaluate", "top_k_hits"]

TOP_K = 5  # the k of ``test_acc5``, as the ImageNet tables report it


class Step(NamedTuple):
    """One training step's outcome: the loss to minimise and what the epoch's metrics sum."""

    loss: Tensor  # mean over the step's ``count`` units
    hits: Tensor  # units predicted right (fractional under mixup)
    count: Tensor | int  # samples, or target tokens for translation
    x: Tensor  # the input as the model saw it (after mixup), for step callbacks


def top_k_hits(logits: Tensor, y: Tensor, k: int = TOP_K) -> Tensor:
    """How many samples have their label among the ``min(k, C)`` highest of their ``C`` logits.

    A label is in the top k when fewer than k classes have a strictly higher logit, so ties count in the
    label's favour and a top-1 hit of ``argmax`` is always a top-k hit.
    """
    rank = (logits > logits.gather(1, y[:, None])).sum(1)  # classes scoring strictly above the label
    return (rank < k).sum()


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], world: World | None = None
) -> dict[str, float]:
    """``test_loss`` (mean cross-entropy), ``test_acc`` (top-1) and ``test_acc5`` (top-5) of ``model``.

    Computed over ``batches`` in eval mode (the model's mode restored); ``test_acc5`` is top-``min(5, C)``.
    With a distributed ``world`` each rank passes its share of the batches (``Batches(every=...)``) and
    every rank gets the metrics of all of them.
    """
    training = model.training
    model.eval()
    sums = None  # loss, top-1 hits, top-k hits, samples; on the device, read once at the end
    try:
        for x, y in batches:
            logits = model(x)
            batch = torch.stack([
                F.cross_entropy(logits.float(), y, reduction="sum").double(),
                (logits.argmax(1) == y).sum().double(),
                top_k_hits(logits, y).double(),
                torch.tensor(len(y), dtype=torch.float64, device=y.device),
            ])  # fmt: skip
            sums = batch if sums is None else sums + batch
    finally:
        model.train(training)
    if sums is None:  # this rank's share of the batches is empty: zeros where the model is
        sums = torch.zeros(4, dtype=torch.float64, device=next(model.parameters(), torch.empty(0)).device)
    if world is not None:
        reduce_sum(world, sums)
    loss, correct, correct_k, count = sums.tolist()
    if count == 0:
        raise ValueError("evaluate got no test samples")
    return {"test_loss": loss / count, "test_acc": correct / count, "test_acc5": correct_k / count}


class ClassificationTask:
    """Cross-entropy training, with label smoothing or mixup, and accuracy evaluation (module docstring)."""

    model_kwargs: dict[str, Any] = {}  # noqa: RUF012 (read only: no extra model arguments)

    def __init__(
        self,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
        generator: torch.Generator | None = None,
        world: World | None = None,
    ) -> None:
        self.label_smoothing = label_smoothing
        self.mixup_alpha = mixup_alpha
        self.generator = generator
        self.world = world  # evaluation's batches split over its ranks

    def step(self, model: nn.Module, x: Tensor, y: Tensor) -> Step:
        """The training loss of one batch (mean over its samples) and its correct predictions."""
        if not self.mixup_alpha:
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
            return Step(loss, (logits.argmax(1) == y).sum(), len(y), x)
        from normact.data import mixup, mixup_loss

        x, y_a, y_b, lam = mixup(x, y, self.mixup_alpha, self.generator)
        logits = model(x)
        pred = logits.argmax(1)
        hits = lam * (pred == y_a).sum() + (1 - lam) * (pred == y_b).sum()
        return Step(mixup_loss(logits, y_a, y_b, lam), hits, len(y), x)

    def evaluate(self, model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
        """``test_loss`` (mean cross-entropy), ``test_acc`` and ``test_acc5`` over ``batches``."""
        return evaluate(model, batches, self.world)
