import copy

import pytest
import torch

from normact.models import TextRCNN, create_model
from normact.nn import NReLU

from .helpers import linear, num_params

V, E, H, P = 40, 6, 5, 7


def tiny(**kwargs) -> TextRCNN:
    kwargs = {"embed_dim": E, "hidden_size": H, "proj_dim": P, **kwargs}
    return create_model("textrcnn", num_classes=3, input_shape=(12,), vocab_size=V, **kwargs)


def tokens():
    x = torch.randint(2, V, (4, 9))
    x[0, 5:] = 0
    x[2, 2:] = 0
    return x


def test_count_and_backward():
    model = tiny(act="nrelu")
    lstm = 2 * (4 * H * E + 4 * H * H + 2 * 4 * H)  # two directions: W_ih, W_hh, b_ih, b_hh
    assert num_params(model) == V * E + lstm + linear(E + 2 * H, P) + linear(P, 3) + 1
    out = model(tokens())
    assert out.shape == (4, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert torch.count_nonzero(model.embed.weight.grad[0]) == 0  # padding takes no part


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_matches_each_review_run_alone(cell):
    """Packing and masking: a batch gives what each unpadded review gives on its own (Lai et al. eqs. 1-6)."""
    model = tiny(cell=cell, act="relu").eval()
    x = tokens()
    out = model(x)
    for row, o in zip(x, out):
        ids = row[row != 0][None]  # (1, L_i)
        e = model.embed(ids)
        c, _ = model.context(e)
        h = model.proj(torch.cat([c[..., :H], e, c[..., H:]], dim=-1))
        torch.testing.assert_close(o, model.head(torch.relu(h).amax(dim=1))[0])


def test_normalized_activation_sees_only_the_words():
    model = tiny(act="nrelu")
    assert isinstance(model.act, NReLU)
    x = tokens()
    a = copy.deepcopy(model)(x)
    b = copy.deepcopy(model)(torch.cat([x, torch.zeros(4, 6, dtype=torch.long)], dim=1))
    torch.testing.assert_close(a, b)  # batch statistics over the words, not the padding
    seen = []
    model.act.register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    model(x)
    assert seen == [(int((x != 0).sum()), P)]


def test_all_padding_row_stays_finite():
    x = tokens()
    x[1] = 0
    assert torch.isfinite(tiny()(x)).all()


def test_errors():
    with pytest.raises(ValueError, match=r"textrcnn needs vocab_size="):
        create_model("textrcnn", num_classes=2, input_shape=(400,))
    with pytest.raises(ValueError, match=r"unknown cell 'transformer'"):
        TextRCNN(10, cell="transformer")
    with pytest.raises(ValueError, match=r"expects \(N, L\) token ids"):
        tiny()(torch.zeros(2, 3, 4, dtype=torch.long))
