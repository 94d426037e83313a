import pytest
import torch

from normact.data import Vocab, tokenize
from normact.data.vocab import pad


def test_tokenize():
    text = "I didn't like it.<br /><br />Worst film of 2009 -- really!"
    assert tokenize(text) == [
        "i",
        "didn't",
        "like",
        "it",
        ".",
        "worst",
        "film",
        "of",
        "2009",
        "-",
        "-",
        "really",
        "!",
    ]
    assert tokenize("Über Café", lowercase=False) == ["Über", "Café"]
    assert tokenize("ein Haus, zwei Häuser.") == ["ein", "haus", ",", "zwei", "häuser", "."]


def test_build_orders_by_frequency_then_alphabet():
    texts = [["b", "a", "c", "a"], ["c", "d", "a"]]
    vocab = Vocab.build(texts)
    assert vocab.itos == ["<pad>", "<unk>", "a", "c", "b", "d"]  # a: 3, c: 2, b and d: 1 each
    assert Vocab.build(texts, max_size=2).itos == ["<pad>", "<unk>", "a", "c"]
    assert Vocab.build(texts, min_freq=2).itos == ["<pad>", "<unk>", "a", "c"]


def test_encode_decode():
    vocab = Vocab(["hello", "world"])
    assert vocab.encode(["hello", "there", "world"]) == [2, 1, 3]
    assert vocab.decode([2, 1, 3, 0, 0]) == ["hello", "<unk>", "world"]
    assert (
        len(vocab) == 4 and "hello" in vocab and repr(vocab) == "Vocab(size=4, specials=['<pad>', '<unk>'])"
    )


def test_specials_must_start_with_pad_and_unk():
    with pytest.raises(ValueError, match="specials must start with"):
        Vocab(["x"], specials=("<unk>", "<pad>"))


def test_pad():
    assert torch.equal(pad([[5, 6, 7], [8]]), torch.tensor([[5, 6, 7], [8, 0, 0]]))
    assert torch.equal(pad([[5, 6, 7], [8]], length=2), torch.tensor([[5, 6], [8, 0]]))
    assert pad([[5, 6, 7]], length=2).dtype == torch.int64
