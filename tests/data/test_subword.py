import pytest

from normact.data.subword import SubwordVocab

TEXT = [
    "the house is big .",
    "the tree is small .",
    "a very very long sentence about the house .",
    "die häuser sind groß .",
]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_subword_vocab_round_trip_and_specials(model_type):
    vocab = SubwordVocab.train(TEXT, 40, model_type)
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and (vocab.pad_index, vocab.unk_index) == (
        0,
        1,
    )
    assert len(vocab) <= 40 + 4 and "<eos>" in vocab
    for line in TEXT:
        ids = vocab.encode(line)
        assert min(ids) >= 4  # no special piece inside a sentence
        assert vocab.to_text([*ids, 0, 0]) == line  # padding is dropped; the text comes back exactly
        assert "".join(vocab.decode(ids)).replace("\u2581", " ").strip() == line
    assert vocab.to_text(vocab.encode("the tree @")).startswith("the tree")
    assert vocab.unk_index in vocab.encode("@")  # a character never seen in training
    again = SubwordVocab.train(TEXT, 40, model_type)
    assert again.model == vocab.model  # deterministic: the same text gives the same model


def test_subword_vocab_errors():
    with pytest.raises(
        ValueError, match=r"unknown subword model 'wordpiece'; choose from \['unigram', 'bpe'\]"
    ):
        SubwordVocab.train(TEXT, 40, "wordpiece")
    with pytest.raises(ValueError, match=r"at most 3 pieces on this text \(it needs at least one piece per"):
        SubwordVocab.train(TEXT, 3)
    with pytest.raises(ValueError, match="cannot train a subword vocabulary on no text"):
        SubwordVocab.train(["", "  "], 40)
