"""The translation task of the runner (``train.task: translation``): a sequence-to-sequence model on pairs
of token ids, trained with teacher forcing and evaluated with BLEU of its greedy translations.

The data are ``(src, tgt)`` batches of int64 ids padded with 0, ``tgt = <bos> w_1 .. w_n <eos>`` (the
``iwslt`` dataset's layout); the model is called as ``model(src, tgt_in)`` and returns next-token
logits ``(N, T, V)`` and has ``greedy_decode(src, bos, eos, max_len)`` (``normact.models.Transformer``).

- Training loss: cross-entropy of ``model(src, tgt[:, :-1])`` against ``tgt[:, 1:]`` over the target
  tokens that are not padding, with ``train.label_smoothing``; ``train_acc`` is the fraction of those
  tokens predicted right.
- Evaluation: the same loss without label smoothing (``test_loss``, per target token), token accuracy
  (``test_acc``), and ``bleu``: corpus BLEU (``normact.train.bleu``, in points, 0-100) of greedy
  translations of every test source, each at most ``2 * S + 10`` tokens (S the batch's padded source
  length), against the test targets. Both sides are cut at their first ``<eos>``; padding, ``<bos>`` and
  ``<eos>`` are dropped, and a predicted ``<unk>`` never matches (the reference's out-of-vocabulary
  words are ``<unk>`` too, and would otherwise be matched for free). BLEU is computed on the lowercased
  word tokens of ``normact.data.vocab.tokenize``, not on detokenised text as sacreBLEU does, so it is
  comparable between our runs and only roughly with published scores.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normact.train.bleu import corpus_bleu
from normact.train.classification import Step

__all__ = ["TranslationTask", "strip_tokens"]


def strip_tokens(ids: Iterable[int], eos: int, drop: set[int]) -> list[int]:
    """The ids before the first ``eos``, without those in ``drop``."""
    out = []
    for i in ids:
        if i == eos:
            break
        if i not in drop:
            out.append(i)
    return out


class TranslationTask:
    """Teacher-forced training and BLEU evaluation of a translation model (see the module docstring)."""

    def __init__(self, data: Any, label_smoothing: float = 0.0) -> None:
        vocab = getattr(data, "target_vocab", None)
        if vocab is None or getattr(data, "vocab", None) is None:
            raise ValueError(
                "train.task=translation needs a parallel-text dataset with source and target vocabularies "
                "(e.g. data.name=iwslt)"
            )
        self.pad, self.unk = vocab.pad_index, vocab.unk_index
        self.bos, self.eos = vocab.stoi["<bos>"], vocab.stoi["<eos>"]
        self.label_smoothing = label_smoothing
        self.model_kwargs = {"src_vocab_size": len(data.vocab)}

    def step(self, model: nn.Module, src: Tensor, tgt: Tensor) -> Step:
        """Training loss (mean over target tokens), correct tokens and the number of target tokens."""
        return Step(*self._loss(model, src, tgt, self.label_smoothing), src)

    def _loss(self, model: nn.Module, src: Tensor, tgt: Tensor, smoothing: float) -> tuple[Tensor, ...]:
        logits = model(src, tgt[:, :-1])
        target = tgt[:, 1:]
        keep = target != self.pad
        loss = F.cross_entropy(
            logits.flatten(0, 1), target.flatten(), ignore_index=self.pad, label_smoothing=smoothing
        )
        hits = ((logits.argmax(-1) == target) & keep).sum()
        return loss, hits, keep.sum()

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
        """``test_loss`` and ``test_acc`` per target token, and ``bleu`` of greedy translations (0-100)."""
        loss = torch.zeros((), dtype=torch.float64)
        hits = tokens = 0
        hypotheses, references = [], []
        drop = {self.pad, self.bos}
        for src, tgt in batches:
            batch_loss, batch_hits, n = self._loss(model, src, tgt, 0.0)
            loss += batch_loss.double().cpu() * n.cpu()
            hits, tokens = hits + int(batch_hits), tokens + int(n)
            out = model.greedy_decode(src, self.bos, self.eos, 2 * src.shape[1] + 10)
            for hyp, ref in zip(out.tolist(), tgt.tolist(), strict=True):
                hypotheses.append([-1 if i == self.unk else i for i in strip_tokens(hyp, self.eos, drop)])
                references.append(strip_tokens(ref, self.eos, drop))
        return {
            "test_loss": float(loss) / tokens,
            "test_acc": hits / tokens,
            "bleu": 100 * corpus_bleu(hypotheses, references),
        }
