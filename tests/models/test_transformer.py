import itertools
import math

import pytest
import torch

from normact.models import Transformer, create_model
from normact.nn import NormalizedActivation, NReLU, NSwish, ReLU, Swish

from .helpers import linear, num_params

SRC_V, TGT_V, BOS, EOS = 23, 29, 2, 3


def tiny(**kwargs) -> Transformer:
    kwargs = {
        "d_model": 16,
        "nhead": 2,
        "dim_feedforward": 24,
        "num_encoder_layers": 2,
        "num_decoder_layers": 3,
        "dropout": 0.0,
        **kwargs,
    }
    return create_model("transformer", num_classes=TGT_V, input_shape=(9,), src_vocab_size=SRC_V, **kwargs)


def batch(n=3, s=7, t=6):
    src = torch.randint(4, SRC_V, (n, s))
    src[0, 4:] = 0
    tgt = torch.randint(4, TGT_V, (n, t))
    tgt[:, 0] = BOS
    tgt[1, 3:] = 0
    return src, tgt


def test_shapes_count_and_backward():
    model = tiny(act="nswish", plain_top=1)
    src, tgt = batch()
    out = model(src, tgt)
    assert out.shape == (3, 6, TGT_V)
    torch.nn.functional.cross_entropy(out.flatten(0, 1), tgt.roll(-1, 1).flatten(), ignore_index=0).backward()
    assert all(p.grad is not None for p in model.parameters())
    d, f = 16, 24
    attn, ffn, norm = 4 * linear(d, d), linear(d, f) + linear(f, d), 2 * d
    normalized = 1 + 2  # one alpha in each normalized FFN: encoder 1 of 2, decoder 2 of 3
    expected = (
        (SRC_V + TGT_V) * d + 2 * (attn + ffn + 2 * norm) + 3 * (2 * attn + ffn + 3 * norm) + normalized
    )
    assert num_params(model) == expected
    assert model.head.weight is model.tgt_embed.weight


def test_instance_wise_ffn_activations_and_top_k():
    """ANAct Tables 6-7: NSwish + k Swish keeps the plain activation in the top k FFNs of both stacks."""
    model = tiny(act="nswish", plain_top=1)
    assert [type(layer.ffn.act) for layer in model.encoder] == [NSwish, Swish]
    assert [type(layer.ffn.act) for layer in model.decoder] == [NSwish, NSwish, Swish]
    assert all(m.instance for m in model.modules() if isinstance(m, NormalizedActivation))
    assert [
        type(layer.ffn.act) for layer in tiny(act="nrelu", plain_top=3, num_encoder_layers=3).decoder
    ] == [ReLU] * 3
    batchwise = tiny(act="nrelu", act_kwargs={"instance": False})
    assert not any(m.instance for m in batchwise.modules() if isinstance(m, NReLU))


def test_deepnorm_constants_and_init():
    """DeepNet (Wang et al. 2022), encoder-decoder: x <- LN(alpha x + f(x)), Xavier gains beta."""
    n, m, d, f = 6, 6, 64, 128
    model = create_model(
        "transformer",
        num_classes=50,
        src_vocab_size=50,
        d_model=d,
        nhead=4,
        dim_feedforward=f,
        num_encoder_layers=n,
        num_decoder_layers=m,
    )
    alpha_enc, beta_enc = 0.81 * (n**4 * m) ** (1 / 16), 0.87 * (n**4 * m) ** (-1 / 16)
    alpha_dec, beta_dec = (3 * m) ** 0.25, (12 * m) ** -0.25
    assert all(layer.alpha == pytest.approx(alpha_enc) for layer in model.encoder)
    assert all(layer.alpha == pytest.approx(alpha_dec) for layer in model.decoder)

    def std(stack, name):
        return torch.cat(
            [w.flatten() for k, w in stack.named_parameters() if k.endswith(name + ".weight")]
        ).std()

    xavier = math.sqrt(2 / (d + d))
    for stack, beta in ((model.encoder, beta_enc), (model.decoder, beta_dec)):
        assert std(stack, "q_proj").item() == pytest.approx(xavier, rel=0.03)
        assert std(stack, "k_proj").item() == pytest.approx(xavier, rel=0.03)
        assert std(stack, "v_proj").item() == pytest.approx(beta * xavier, rel=0.03)
        assert std(stack, "out_proj").item() == pytest.approx(beta * xavier, rel=0.03)
        assert std(stack, "fc1").item() == pytest.approx(beta * math.sqrt(2 / (d + f)), rel=0.03)
        assert all(
            torch.count_nonzero(b) == 0
            for k, b in stack.named_parameters()
            if k.endswith("bias") and "norm" not in k
        )
    assert model.tgt_embed.weight.std().item() == pytest.approx(d**-0.5, rel=0.05)
    assert torch.count_nonzero(model.src_embed.weight[0]) == 0
    post_ln = tiny(init="xavier")
    assert all(layer.alpha == 1.0 for layer in [*post_ln.encoder, *post_ln.decoder])


@pytest.mark.parametrize(("act", "norm_stats"), [("relu", "sentence"), ("nrelu", "token")])
def test_decoder_is_causal_and_source_padding_is_masked(act, norm_stats):
    model = tiny(act=act, norm_stats=norm_stats).eval()
    src, tgt = batch()
    out = model(src, tgt)
    changed = tgt.clone()
    changed[:, 4:] = 5
    torch.testing.assert_close(model(src, changed)[:, :4], out[:, :4])
    padded = torch.cat([src, torch.zeros(3, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded, tgt), out)


def test_sentence_statistics_see_the_whole_target():
    """The documented cost of per-sentence statistics: a decoder position depends on later tokens."""
    model = tiny(act="nrelu", norm_stats="sentence").eval()
    src, tgt = batch()
    changed = tgt.clone()
    changed[:, 4:] = 5
    assert not torch.allclose(model(src, changed)[:, :4], model(src, tgt)[:, :4])


def test_greedy_translation_agrees_with_teacher_forcing():
    model = tiny(act="nrelu", norm_stats="token").eval()
    src, _ = batch()
    ys = model.translate(src, BOS, EOS, max_len=8, beam=1)
    assert ys.shape[0] == 3 and ys.shape[1] <= 8
    prefix = torch.cat([torch.full((3, 1), BOS), ys[:, :-1]], dim=1)
    logits = model(src, prefix)
    logits[..., [0, BOS]] = -math.inf  # never <pad> or <bos>
    predicted = logits.argmax(-1)
    for row, p in zip(ys, predicted):
        stop = int((row == EOS).nonzero()[0]) + 1  # every translation ends with <eos>
        chosen = stop - 1 if stop == 8 else stop  # at max_len, <eos> ends it whatever the model says
        assert torch.equal(row[:chosen], p[:chosen])
        assert torch.count_nonzero(row[stop:]) == 0  # padding after <eos>


def _every_translation(model, src, max_len, vocab):
    """Every sequence of at most ``max_len`` tokens ending in <eos>, with its teacher-forced log-prob."""
    tokens = [t for t in range(vocab) if t not in (0, BOS, EOS)]
    out = []
    for length in range(1, max_len + 1):
        for body in itertools.product(tokens, repeat=length - 1):
            seq = torch.tensor([*body, EOS])
            prefix = torch.cat([torch.tensor([BOS]), seq[:-1]])[None]
            logp = model(src[None], prefix)[0].log_softmax(-1)
            out.append((seq.tolist(), logp[torch.arange(length), seq].sum().item()))
    return out


def test_wide_beam_finds_the_best_translation():
    """A beam wider than the whole search space prunes nothing: it returns the exhaustive search's best."""
    torch.manual_seed(3)
    vocab = 6  # <pad>, <unk>, <bos>, <eos> and two words: 3 tokens besides <eos>, 40 sequences of <= 4
    model = create_model(
        "transformer", num_classes=vocab, src_vocab_size=SRC_V, d_model=16, nhead=2, dim_feedforward=24,
        num_encoder_layers=1, num_decoder_layers=2, dropout=0.0, act="nrelu", norm_stats="token",
    ).eval()  # fmt: skip
    src, _ = batch()
    every = [_every_translation(model, s[s != 0], 4, vocab) for s in src]
    picks = set()
    for penalty in (0.0, 1.0, 2.0):
        ys = model.translate(src, BOS, EOS, max_len=4, beam=40, length_penalty=penalty)
        for row, candidates in zip(ys.tolist(), every, strict=True):
            best = max(candidates, key=lambda c: c[1] / len(c[0]) ** penalty)[0]
            assert row[: len(best)] == best and not any(row[len(best) :])
            picks.add((penalty, len(best)))
    assert len({length for _, length in picks}) > 1  # the penalties pick translations of other lengths


def test_errors():
    with pytest.raises(ValueError, match=r"transformer needs src_vocab_size="):
        create_model("transformer", num_classes=10, input_shape=(5,))
    with pytest.raises(ValueError, match=r"d_model \(10\) must be a multiple of nhead \(4\)"):
        tiny(d_model=10, nhead=4)
    with pytest.raises(ValueError, match=r"plain_top must be in \[0, 2\]"):
        tiny(plain_top=3)
    with pytest.raises(ValueError, match=r"unknown norm_stats 'batch'"):
        tiny(norm_stats="batch")
    with pytest.raises(ValueError, match=r"translate needs beam >= 1 and max_len >= 1, got beam=0"):
        tiny().translate(batch()[0], BOS, EOS, max_len=5, beam=0)
    with pytest.raises(ValueError, match="the FFN activation must keep the width"):
        tiny(act="crelu")
    with pytest.raises(ValueError, match=r"unknown init 'he_normal'; choose from \['deepnorm', 'he'"):
        tiny(init="he_normal")
