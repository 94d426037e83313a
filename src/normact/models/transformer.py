"""A Post-LN Transformer encoder-decoder (Vaswani et al. 2017) with DeepNorm and ANAct's FFN activations.

ANAct section 3.4 and appendix A.4 (Tables 6-7) train 6L-6L and 12L-12L Transformers "initialized
with DeepNorm" on IWSLT 2015 De-En with (N)ReLU or (N)Swish in the feed-forward layers, the
normalized ones with instance-wise statistics, and keep the plain activation in the top ``k`` FFNs of
the encoder and of the decoder (``plain_top``).

What we implement for DeepNorm (Wang et al. 2022, "DeepNet", Fig. 2 and Table 1, encoder-decoder):
every sub-layer is ``x <- LayerNorm(alpha x + f(x))``, with ``alpha = 0.81 (N^4 M)^(1/16)`` in the
encoder and ``(3M)^(1/4)`` in the decoder (N, M: encoder and decoder layers); the weights of the FFNs
and of the value and output projections are Xavier-normal with gain ``beta = 0.87 (N^4 M)^(-1/16)``
(encoder) or ``(12M)^(-1/4)`` (decoder), the query and key projections with gain 1, biases zero.
Embeddings are N(0, 1/d_model), scaled by sqrt(d_model), plus sinusoidal positions; the output
projection shares the target embedding (``tie_embeddings``). With ``deepnorm=False`` alpha is 1 (the
Post-LN Transformer) and the weights keep PyTorch's initialisation.

Instance-wise statistics (``norm_stats``): ``"sentence"`` (default, SEED-NOTES' "each sample's own
statistics") normalizes over each sentence's positions and features. This includes padded positions,
and in training a decoder position's scale then depends (through two scalars) on the later positions of
its sentence, which decoding, seeing only the prefix, cannot reproduce exactly. ``"token"`` uses
each position's own features (like LayerNorm): causal and blind to padding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normact.init import init_weights
from normact.models._common import INITS, ActFactory, ActSpec
from normact.models.registry import register_model

__all__ = [
    "DecoderLayer",
    "EncoderLayer",
    "FeedForward",
    "MultiheadAttention",
    "Transformer",
    "deepnorm_constants",
    "transformer",
]

NORM_STATS = ("sentence", "token")


def deepnorm_constants(encoder_layers: int, decoder_layers: int) -> dict[str, tuple[float, float]]:
    """DeepNorm's ``(alpha, beta)`` for the encoder and the decoder (DeepNet, Table 1; N, M layers)."""
    n, m = encoder_layers, decoder_layers
    return {
        "encoder": (0.81 * (n**4 * m) ** (1 / 16), 0.87 * (n**4 * m) ** (-1 / 16)),
        "decoder": ((3 * m) ** (1 / 4), (12 * m) ** (-1 / 4)),
    }


class MultiheadAttention(nn.Module):
    """Scaled dot-product attention over ``nhead`` heads: ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``.

    Shape:
        query ``(N, T, D)``, memory ``(N, S, D)``, mask boolean, broadcastable to ``(N, nhead, T, S)``,
        True where a query may attend a key; output ``(N, T, D)``.
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be a multiple of nhead ({nhead})")
        self.nhead, self.dropout = nhead, dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor | None = None) -> Tensor:
        (n, t, d), s = query.shape, memory.shape[1]
        q = self.q_proj(query).view(n, t, self.nhead, -1).transpose(1, 2)  # (N, h, T, d/h)
        k = self.k_proj(memory).view(n, s, self.nhead, -1).transpose(1, 2)  # (N, h, S, d/h)
        v = self.v_proj(memory).view(n, s, self.nhead, -1).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, mask, self.dropout if self.training else 0.0)
        return self.out_proj(y.transpose(1, 2).reshape(n, t, d))


class FeedForward(nn.Module):
    """``fc2(act(fc1(x)))``; with ``per_token`` the activation sees each position as its own sample."""

    def __init__(self, d_model: int, dim_feedforward: int, act: nn.Module, per_token: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, dim_feedforward)
        self.act = act
        self.fc2 = nn.Linear(dim_feedforward, d_model)
        self.per_token = per_token

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)  # (N, T, F)
        h = self.act(h.reshape(-1, h.shape[-1])).view_as(h) if self.per_token else self.act(h)
        return self.fc2(h)


class EncoderLayer(nn.Module):
    """``x <- norm1(alpha x + self_attn(x))``, then ``x <- norm2(alpha x + ffn(x))``; dropout on branches."""

    def __init__(self, d_model: int, nhead: int, ffn: FeedForward, dropout: float, alpha: float) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead)
        self.ffn = ffn
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.alpha = alpha

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.norm1(self.alpha * x + self.drop(self.self_attn(x, x, mask)))
        return self.norm2(self.alpha * x + self.drop(self.ffn(x)))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.4g}"


class DecoderLayer(nn.Module):
    """Masked self-attention, attention to the encoder's output and the FFN, each ``norm(alpha x + f(x))``."""

    def __init__(self, d_model: int, nhead: int, ffn: FeedForward, dropout: float, alpha: float) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead)
        self.cross_attn = MultiheadAttention(d_model, nhead)
        self.ffn = ffn
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.drop = nn.Dropout(dropout)
        self.alpha = alpha

    def forward(self, x: Tensor, memory: Tensor, self_mask: Tensor, memory_mask: Tensor) -> Tensor:
        x = self.norm1(self.alpha * x + self.drop(self.self_attn(x, x, self_mask)))
        x = self.norm2(self.alpha * x + self.drop(self.cross_attn(x, memory, memory_mask)))
        return self.norm3(self.alpha * x + self.drop(self.ffn(x)))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.4g}"


class Transformer(nn.Module):
    """Encoder-decoder Transformer for translation, with DeepNorm and ANAct's FFN activations.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (ids ``0 .. size - 1``).
        d_model, nhead, dim_feedforward: model width, attention heads, FFN width ("the size of the
            first layer in FFN" of ANAct's Tables 6-7).
        num_encoder_layers, num_decoder_layers: N and M.
        dropout: on the embeddings and on every sub-layer's output (ANAct used 0.5).
        act_layer: the FFN activation (name, class or factory); ``act_kwargs`` its keyword arguments.
        plain_top: the top ``k`` FFNs of the encoder and of the decoder use the unnormalized
            counterpart of a normalized ``act_layer``.
        norm_stats: instance-wise statistics of a normalized activation, ``"sentence"`` or ``"token"``
            (see the module docstring); normalized activations get ``instance=True``.
        pad_index: the padding id (masked in attention).
        tie_embeddings: the output projection shares the target embedding's weight.
        deepnorm: DeepNorm's residual scaling and initialisation (else alpha = 1, PyTorch's init).

    Shape:
        ``forward(src, tgt)``: src ``(N, S)`` and tgt ``(N, T)`` int64 ids (tgt starts with ``<bos>``),
        output ``(N, T, tgt_vocab_size)`` logits of the next target token at every position.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 512,
        nhead: int = 4,
        dim_feedforward: int = 1024,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dropout: float = 0.5,
        act_layer: ActSpec = "relu",
        act_kwargs: Mapping[str, Any] | None = None,
        plain_top: int = 0,
        norm_stats: str = "sentence",
        pad_index: int = 0,
        tie_embeddings: bool = True,
        deepnorm: bool = True,
    ) -> None:
        super().__init__()
        if min(num_encoder_layers, num_decoder_layers) < 1:
            raise ValueError(
                f"need at least one encoder and one decoder layer, "
                f"got {num_encoder_layers} and {num_decoder_layers}"
            )
        if not 0 <= plain_top <= min(num_encoder_layers, num_decoder_layers):
            raise ValueError(
                f"plain_top must be in [0, {min(num_encoder_layers, num_decoder_layers)}], got {plain_top}"
            )
        if norm_stats not in NORM_STATS:
            raise ValueError(f"unknown norm_stats {norm_stats!r}; choose from {list(NORM_STATS)}")
        act = ActFactory(act_layer, act_kwargs)
        if act.normalized:
            act = ActFactory(act_layer, {"instance": True, **(act_kwargs or {})})
        if act.multiplier != 1:
            raise ValueError(f"the FFN activation must keep the width (got {act.sample!r})")
        self.d_model, self.pad_index, self.deepnorm = d_model, pad_index, deepnorm
        constants = deepnorm_constants(num_encoder_layers, num_decoder_layers)
        per_token = norm_stats == "token"

        def ffn(layer: int, layers: int) -> FeedForward:
            a = act.plain() if layer >= layers - plain_top else act
            return FeedForward(d_model, dim_feedforward, a(), per_token)

        self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_index)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_index)
        self.drop = nn.Dropout(dropout)
        alpha_enc = constants["encoder"][0] if deepnorm else 1.0
        alpha_dec = constants["decoder"][0] if deepnorm else 1.0
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, nhead, ffn(i, num_encoder_layers), dropout, alpha_enc)
            for i in range(num_encoder_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderLayer(d_model, nhead, ffn(i, num_decoder_layers), dropout, alpha_dec)
            for i in range(num_decoder_layers)
        )
        self.head = nn.Linear(d_model, tgt_vocab_size, bias=False)
        if tie_embeddings:
            self.head.weight = self.tgt_embed.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Embeddings N(0, 1/d_model) (padding row zero); with ``deepnorm`` DeepNorm's Xavier gains."""
        with torch.no_grad():
            for embed in (self.src_embed, self.tgt_embed):
                nn.init.normal_(embed.weight, 0.0, self.d_model**-0.5)
                embed.weight[self.pad_index].zero_()
            if not self.deepnorm:
                return
            constants = deepnorm_constants(len(self.encoder), len(self.decoder))
            for part, layers in (("encoder", self.encoder), ("decoder", self.decoder)):
                beta = constants[part][1]
                for name, module in layers.named_modules():
                    if isinstance(module, nn.Linear):
                        scaled = name.endswith(("fc1", "fc2", "v_proj", "out_proj"))
                        nn.init.xavier_normal_(module.weight, beta if scaled else 1.0)
                        nn.init.zeros_(module.bias)

    def _embed(self, embed: nn.Embedding, ids: Tensor) -> Tensor:
        t = ids.shape[1]
        position = torch.arange(t, device=ids.device, dtype=torch.float32)[:, None]
        freq = torch.exp(
            torch.arange(0, self.d_model, 2, device=ids.device, dtype=torch.float32)
            * (-math.log(10000.0) / self.d_model)
        )
        pe = torch.zeros(t, self.d_model, device=ids.device)
        pe[:, 0::2] = torch.sin(position * freq)
        pe[:, 1::2] = torch.cos(position * freq[: self.d_model // 2])
        return self.drop(embed(ids) * math.sqrt(self.d_model) + pe.to(embed.weight.dtype))

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """The encoder's output ``(N, S, D)`` and the attention mask of the source ``(N, 1, 1, S)``."""
        mask = (src != self.pad_index)[:, None, None, :]
        x = self._embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, mask)
        return x, mask

    def decode(self, tgt: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """Next-token logits ``(N, T, V)`` for the target prefix ``tgt`` ``(N, T)``."""
        t = tgt.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=tgt.device).tril()
        self_mask = causal & (tgt != self.pad_index)[:, None, None, :]  # (N, 1, T, T)
        x = self._embed(self.tgt_embed, tgt)
        for layer in self.decoder:
            x = layer(x, memory, self_mask, memory_mask)
        return self.head(x)

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        return self.decode(tgt, *self.encode(src))

    @torch.no_grad()
    def translate(
        self, src: Tensor, bos: int, eos: int, max_len: int, beam: int = 5, length_penalty: float = 1.0
    ) -> Tensor:
        """Beam-search translations ``(N, <= max_len)`` of ``src``, without ``<bos>``, padded after ``<eos>``.

        fairseq's beam search: each step extends every live hypothesis by every token (never
        ``<pad>`` or ``<bos>``) and ranks the ``2 * beam`` best extensions of each sentence by their
        summed log-probability; an extension ending in ``eos`` among the first ``beam`` is finished,
        scored ``log p / length ** length_penalty`` (length in tokens, ``<eos>`` included), and the
        ``beam`` best others go on. A sentence is done when it has ``beam`` finished hypotheses; at
        ``max_len`` tokens every live one is ended with ``<eos>``. The best-scored finished hypothesis is
        returned. ``beam=1`` is greedy decoding (each step's most likely token), whatever the penalty.
        """
        if beam < 1 or max_len < 1:
            raise ValueError(f"translate needs beam >= 1 and max_len >= 1, got {beam=}, {max_len=}")
        n, k, device = src.shape[0], beam, src.device
        memory, mask = self.encode(src)
        memory, mask = memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)  # (N*K, S, D)
        ys = torch.full((n * k, 1), bos, dtype=torch.long, device=device)  # live prefixes, <bos> first
        scores = torch.full((n, k), -math.inf, device=device)
        scores[:, 0] = 0.0  # one live hypothesis per sentence at the start
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
        for length in range(1, max_len + 1):
            logp = self.decode(ys, memory, mask)[:, -1].float().log_softmax(-1)  # (N*K, V)
            logp[:, [self.pad_index, bos]] = -math.inf
            if length == max_len:  # the last step ends every hypothesis
                logp[:, torch.arange(logp.shape[1], device=device) != eos] = -math.inf
            vocab = logp.shape[1]
            total = (scores[:, :, None] + logp.view(n, k, vocab)).view(n, k * vocab)
            top, index = total.topk(min(2 * k, k * vocab), dim=1)  # (N, 2K)
            origin, token = index // vocab, index % vocab
            ended = (token == eos) & torch.isfinite(top)
            for i, j in ended[:, :k].nonzero().tolist():  # in rank order within each sentence
                if len(finished[i]) < k:
                    prefix = ys[i * k + origin[i, j], 1:].tolist()
                    finished[i].append((top[i, j].item() / length**length_penalty, [*prefix, eos]))
            done = torch.tensor([len(f) >= k for f in finished], device=device)
            if bool(done.all()):
                break
            scores, order = top.masked_fill(token == eos, -math.inf).topk(k, dim=1)  # (N, K)
            scores = scores.masked_fill(done[:, None], -math.inf)
            rows = (torch.arange(n, device=device)[:, None] * k + origin.gather(1, order)).view(-1)
            ys = torch.cat([ys[rows], token.gather(1, order).view(-1, 1)], dim=1)
        best = [max(f, key=lambda hyp: hyp[0])[1] for f in finished]
        out = torch.full((n, max(map(len, best))), self.pad_index, dtype=torch.long, device=device)
        for i, hyp in enumerate(best):
            out[i, : len(hyp)] = torch.tensor(hyp, device=device)
        return out


@register_model("transformer")
def transformer(
    num_classes: int,
    input_shape: tuple[int, ...] | None = None,
    src_vocab_size: int | None = None,
    act: ActSpec = "relu",
    init: str = "deepnorm",
    act_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Transformer:
    """:class:`Transformer` with ``tgt_vocab_size = num_classes`` (the ``iwslt`` dataset's convention).

    ``init="deepnorm"`` (default) is DeepNorm; any ``normact.init`` scheme (or ``"torch"``) gives the
    plain Post-LN Transformer with that initialisation of the encoder's and decoder's linear layers.
    ``input_shape`` (the padded source length) is not needed. ``src_vocab_size`` is required
    (``len(splits.vocab)``).
    """
    if src_vocab_size is None:
        raise ValueError("transformer needs src_vocab_size= (the source vocabulary size, len(splits.vocab))")
    if init not in ("deepnorm", *INITS):
        raise ValueError(f"unknown init {init!r}; choose from {['deepnorm', *INITS]}")
    model = Transformer(
        src_vocab_size,
        num_classes,
        act_layer=act,
        act_kwargs=act_kwargs,
        deepnorm=init == "deepnorm",
        **kwargs,
    )
    if init not in ("deepnorm", "torch"):
        init_weights(model.encoder, init)  # the embeddings (tied to the head) keep N(0, 1/d_model)
        init_weights(model.decoder, init)
    return model
