"""TextRCNN (Lai et al. 2015, "Recurrent Convolutional Neural Networks for Text Classification").

Each word is represented by its left context, its embedding and its right context, ``x_i = [c_l(w_i);
e(w_i); c_r(w_i)]``; ``y_i = act(W x_i + b)`` (eq. 4, tanh in the paper); a max pool over the words
(eq. 5) and a linear layer (eq. 6) give the class scores. ANAct section 3.4 trains it on IMDB with the
activation replaced (ReLU, NReLU, Swish, NSwish).

Choices the papers leave open: the contexts come from a bidirectional LSTM (``cell``; Lai et al. use a
simple recurrent layer, ``cell="rnn"``, with tanh), run on the packed sequences so that padding neither
enters the contexts nor the max pool; the activation sees only the real (non-padding) words, so a
normalized activation's batch statistics are over the words of the batch; dropout (``dropout``) acts on
the pooled vector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from normact.models._common import ActFactory, ActSpec, check_init, finish
from normact.models.registry import register_model

__all__ = ["TextRCNN", "textrcnn"]

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class TextRCNN(nn.Module):
    """Bidirectional recurrent contexts + word embedding, ``act(proj(.))``, max pool over time, linear head.

    Args:
        vocab_size: number of token ids (at least the vocabulary's size).
        num_classes: outputs of the head.
        embed_dim: word embedding size (|e| of Lai et al.).
        hidden_size: size of each direction's context (|c_l| = |c_r|).
        proj_dim: size of the latent semantic vector y_i (H of Lai et al.'s eq. 4).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh) for the contexts.
        act_layer: the activation of eq. 4 (name, class or factory); ``act_kwargs`` its keyword arguments.
        dropout: dropout probability on the pooled vector.
        pad_index: the padding id; padded positions are left out of the contexts, the activation and the pool.

    Shape:
        Input ``(N, L)`` int64 token ids padded at the end, output ``(N, num_classes)``.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        embed_dim: int = 300,
        hidden_size: int = 256,
        proj_dim: int = 256,
        cell: str = "lstm",
        act_layer: ActSpec = "tanh",
        act_kwargs: Mapping[str, Any] | None = None,
        dropout: float = 0.0,
        pad_index: int = 0,
    ) -> None:
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose from {sorted(_CELLS)}")
        act = ActFactory(act_layer, act_kwargs)
        if act.multiplier != 1:
            raise ValueError(f"the activation must keep the width (got {act.sample!r})")
        self.pad_index = pad_index
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_index)
        self.context = _CELLS[cell](embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(embed_dim + 2 * hidden_size, proj_dim)
        self.act = act()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(proj_dim, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"TextRCNN expects (N, L) token ids, got shape {tuple(tokens.shape)}")
        keep = tokens != self.pad_index  # (N, L)
        lengths = keep.sum(1).clamp_min(1)
        e = self.embed(tokens)  # (N, L, E)
        packed = pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
        c, _ = pad_packed_sequence(self.context(packed)[0], batch_first=True, total_length=tokens.shape[1])
        h = self.proj(torch.cat([c[..., : c.shape[-1] // 2], e, c[..., c.shape[-1] // 2 :]], dim=-1))
        keep = keep | (
            torch.arange(tokens.shape[1], device=tokens.device) == 0
        )  # an all-padding row keeps one
        y = torch.full_like(h, float("-inf"))
        y[keep] = self.act(h[keep])  # (M, P): the activation sees the real words only
        return self.head(self.dropout(y.amax(dim=1)))


@register_model("textrcnn")
def textrcnn(
    num_classes: int = 2,
    input_shape: tuple[int, ...] | None = None,
    vocab_size: int | None = None,
    act: ActSpec = "tanh",
    init: str = "torch",
    act_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> TextRCNN:
    """:class:`TextRCNN`; ``vocab_size`` is required (``len(splits.vocab)``; ``max_vocab + 2`` bounds it).

    ``init`` re-initialises the two linear layers (``"torch"``, the default, keeps PyTorch's init).
    """
    if vocab_size is None:
        raise ValueError("textrcnn needs vocab_size= (the vocabulary size, len(splits.vocab))")
    check_init(init)
    model = TextRCNN(vocab_size, num_classes, act_layer=act, act_kwargs=act_kwargs, **kwargs)
    return finish(model, init)
