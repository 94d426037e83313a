"""The classification task of the runner (``train.task: classification``): cross-entropy on ``(x, y)``.

Training uses ``train.label_smoothing``, or mixup (``data.mixup_alpha`` > 0, ``normact.data.mixup``):
one Beta(alpha, alpha) weight and one pairing permutation per batch, drawn from the run's augmentation
generator, and the two labels' losses mixed with that weight; ``train_acc`` then counts a prediction
right in proportion to the label it matches. Evaluation is plain cross-entropy and accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ClassificationTask", "Step", "evaluate"]


class Step(NamedTuple):
    """One training step's outcome: the loss to minimise and what the epoch's metrics sum."""

    loss: Tensor  # mean over the step's ``count`` units
    hits: Tensor  # units predicted right (fractional under mixup)
    count: Tensor | int  # samples, or target tokens for translation
    x: Tensor  # the input as the model saw it (after mixup), for step callbacks


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` over ``batches``, in eval mode (its mode restored)."""
    training = model.training
    model.eval()
    loss, correct, count = 0.0, 0, 0
    try:
        for x, y in batches:
            logits = model(x)
            loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    finally:
        model.train(training)
    return loss / count, correct / count


class ClassificationTask:
    """Cross-entropy training, with label smoothing or mixup, and accuracy evaluation (module docstring)."""

    model_kwargs: dict[str, Any] = {}  # noqa: RUF012 (read only: no extra model arguments)

    def __init__(
        self, label_smoothing: float = 0.0, mixup_alpha: float = 0.0, generator: torch.Generator | None = None
    ) -> None:
        self.label_smoothing = label_smoothing
        self.mixup_alpha = mixup_alpha
        self.generator = generator

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
        """``test_loss`` (mean cross-entropy) and ``test_acc`` over ``batches``."""
        test_loss, test_acc = evaluate(model, batches)
        return {"test_loss": test_loss, "test_acc": test_acc}
