"""The translation task of the runner (``train.task: translation``): a sequence-to-sequence model on pairs
of token ids, trained with teacher forcing and evaluated with sacreBLEU of its beam-search translations.

The data are ``(src, tgt)`` batches of int64 ids padded with 0, ``tgt = <bos> w_1 .. w_n <eos>``, with
source and target vocabularies and the test targets as text (the ``iwslt`` dataset's layout); the model
is called as ``model(src, tgt_in)``, returns next-token logits ``(N, T, V)`` and has
``translate(src, bos, eos, max_len, beam, length_penalty)`` (``normact.models.Transformer``).

- Training loss: cross-entropy of ``model(src, tgt[:, :-1])`` against ``tgt[:, 1:]`` over the target
  tokens that are not padding, with ``train.label_smoothing``; ``train_acc`` is the fraction of those
  tokens predicted right.
- Evaluation: the same loss without label smoothing (``test_loss``, per target token), token accuracy
  (``test_acc``), and ``bleu``: sacreBLEU's corpus BLEU (in points, 0-100; its defaults: 13a
  tokenisation, exponential smoothing, case-sensitive, on text lowercased or not by the dataset) of the
  translations of every test source (``train.beam`` hypotheses, 1 for greedy decoding; each at most
  ``2 * S + 10`` tokens, S the batch's padded source length) against the test targets as text. A
  translation is cut at its first ``<eos>`` and turned into text by the target vocabulary (subword
  pieces detokenised, words joined by spaces); ``<unk>`` becomes text no reference contains.

Under torchrun each rank translates its share of the test batches (``Batches(every=...)``: batches
``rank, rank + world, ...``); the sums are added over the ranks and the translations gathered in the
test set's order, so every rank scores the whole test set as one process would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normact.train.classification import Step
from normact.train.distributed import World, gather_objects, reduce_sum

__all__ = ["TranslationTask", "corpus_bleu", "strip_tokens"]


def strip_tokens(ids: Iterable[int], eos: int, drop: set[int]) -> list[int]:
    """The ids before the first ``eos``, without those in ``drop``."""
    out = []
    for i in ids:
        if i == eos:
            break
        if i not in drop:
            out.append(i)
    return out


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """sacreBLEU's corpus BLEU (0-100, default settings) of detokenised ``hypotheses``, one reference each."""
    try:
        from sacrebleu.metrics import BLEU
    except ImportError as err:
        message = "translation BLEU needs the sacrebleu package: pip install 'normact[translation]'"
        raise ImportError(message) from err
    if len(hypotheses) != len(references):
        raise ValueError(f"need one reference per hypothesis, got {len(hypotheses)} and {len(references)}")
    return BLEU().corpus_score(hypotheses, [references]).score


class TranslationTask:
    """Teacher-forced training and BLEU evaluation of a translation model (see the module docstring)."""

    def __init__(
        self,
        data: Any,
        label_smoothing: float = 0.0,
        beam: int = 5,
        length_penalty: float = 1.0,
        world: World | None = None,
    ) -> None:
        vocab, references = getattr(data, "target_vocab", None), getattr(data, "references", None)
        if vocab is None or getattr(data, "vocab", None) is None or references is None:
            raise ValueError(
                "train.task=translation needs a parallel-text dataset with source and target vocabularies "
                "and the test targets as text (e.g. data.name=iwslt)"
            )
        self.vocab, self.references = vocab, list(references)
        self.pad, self.bos, self.eos = vocab.pad_index, vocab.stoi["<bos>"], vocab.stoi["<eos>"]
        self.label_smoothing, self.beam, self.length_penalty = label_smoothing, beam, length_penalty
        self.model_kwargs = {"src_vocab_size": len(data.vocab)}
        self.world = world if world is not None else World()  # evaluation's batches split over its ranks

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
        """``test_loss`` and ``test_acc`` per target token, and ``bleu`` of the translations (0-100).

        ``batches`` are the whole test split in order (under torchrun: this rank's share of its batches):
        the i-th translation is scored against the i-th reference.
        """
        sums = torch.zeros(3, dtype=torch.float64)  # loss, right tokens, tokens
        translated: list[list[str]] = []  # per batch of this rank
        drop = {self.pad, self.bos}
        for src, tgt in batches:
            batch_loss, batch_hits, n = self._loss(model, src, tgt, 0.0)
            sums += torch.stack([batch_loss.double() * n, batch_hits.double(), n.double()]).cpu()
            max_len = 2 * src.shape[1] + 10
            out = model.translate(src, self.bos, self.eos, max_len, self.beam, self.length_penalty)
            translated.append([self.vocab.to_text(strip_tokens(hyp, self.eos, drop)) for hyp in out.tolist()])
        world = self.world
        if world.distributed:
            device = next(model.parameters()).device  # NCCL reduces CUDA tensors, gloo CPU ones
            sums = reduce_sum(world, sums.to(device)).cpu()
            shares = gather_objects(world, translated)  # rank r holds batches r, r + world, ...
            translated = [shares[i % world.size][i // world.size] for i in range(sum(map(len, shares)))]
        loss, hits, tokens = sums.tolist()
        hypotheses = [h for batch in translated for h in batch]
        if len(hypotheses) != len(self.references):
            raise ValueError(
                f"translation evaluation got {len(hypotheses)} test sentences "
                f"for {len(self.references)} references"
            )
        return {
            "test_loss": loss / tokens,
            "test_acc": hits / tokens,
            "bleu": corpus_bleu(hypotheses, self.references),
        }
