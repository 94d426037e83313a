from pathlib import Path

import pytest

from normact.data import CorruptDataError, MissingDataError, load_dataset
from normact.data.subword import SubwordVocab

TRAIN = [
    ("Ein Haus.", "A house."),
    ("Das Haus ist groß.", "The house is big."),
    ("", "Empty source."),
    ("Ein sehr sehr sehr langer Satz .", "A very very very long sentence ."),
]
TEST = [
    ("Ein Baum.", "A tree."),
    ("Das ist ein sehr sehr sehr sehr langer Test .", "This is a very long test ."),
]


def write_pairs(root: Path, split: str, pairs) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{split}.de").write_text("\n".join(p[0] for p in pairs) + "\n", encoding="utf-8")
    (root / f"{split}.en").write_text("\n".join(p[1] for p in pairs) + "\n", encoding="utf-8")


def test_iwslt(tmp_path):
    write_pairs(tmp_path / "iwslt", "train", TRAIN)
    write_pairs(tmp_path / "iwslt", "test", TEST)
    splits = load_dataset("iwslt", root=tmp_path, max_len=6)
    src_vocab, tgt_vocab = splits.vocab, splits.target_vocab
    src, tgt = splits.train.tensors
    # The empty-source pair and the 7-token pair are dropped from training.
    assert len(splits.train) == 2
    assert src_vocab.decode(src[0].tolist()) == ["ein", "haus", ".", "<eos>"]
    assert tgt_vocab.decode(tgt[1].tolist()) == ["<bos>", "the", "house", "is", "big", ".", "<eos>"]
    assert tgt.shape == (2, 7) and splits.input_shape == (6,)
    assert src_vocab.itos[:6] == ["<pad>", "<unk>", "<bos>", "<eos>", ".", "haus"]
    assert "house" in tgt_vocab and "house" not in src_vocab  # one vocabulary per language
    test_src = splits.test.tensors[0]
    assert len(splits.test) == 2 and test_src.shape[1] == 11  # every test pair is kept, at full length
    assert src_vocab.decode(test_src[0].tolist()) == ["ein", "<unk>", ".", "<eos>"]
    assert splits.num_classes == len(tgt_vocab)
    assert splits.references == ("a tree.", "this is a very long test .")  # lowercased text, as in the file


def test_iwslt_other_direction_and_test_split(tmp_path):
    write_pairs(tmp_path, "train", TRAIN)
    write_pairs(tmp_path, "tst2013", TEST[:1])
    splits = load_dataset(
        "iwslt", root=tmp_path, src_lang="en", tgt_lang="de", test_split="tst2013", max_len=None
    )
    assert len(splits.train) == 3 and "house" in splits.vocab and "haus" in splits.target_vocab


def test_iwslt_misaligned_files(tmp_path):
    write_pairs(tmp_path, "train", TRAIN)
    write_pairs(tmp_path, "test", TEST)
    (tmp_path / "test.en").write_text("only one line\n")
    with pytest.raises(CorruptDataError, match=r"test\.en: 1 lines, but test\.de has 2"):
        load_dataset("iwslt", root=tmp_path)


def test_iwslt_missing_test(tmp_path):
    write_pairs(tmp_path, "train", TRAIN)
    with pytest.raises(MissingDataError) as err:
        load_dataset("iwslt", root=tmp_path)
    assert str(tmp_path / "test.de") in str(err.value) and "one sentence per line" in str(err.value)


@pytest.mark.parametrize("tokenizer", ["unigram", "bpe"])
def test_iwslt_subwords(tmp_path, tokenizer):
    write_pairs(tmp_path, "train", TRAIN)
    write_pairs(tmp_path, "test", TEST)
    splits = load_dataset("iwslt", root=tmp_path, max_len=None, max_vocab=30, tokenizer=tokenizer)
    src_vocab, tgt_vocab = splits.vocab, splits.target_vocab
    assert isinstance(tgt_vocab, SubwordVocab) and len(tgt_vocab) <= 34 and "house" not in src_vocab.stoi
    src, tgt = splits.train.tensors
    assert len(splits.train) == 3  # the pair with an empty source is dropped
    for row, line in zip(tgt.tolist(), [t.lower() for s, t in TRAIN if s], strict=True):
        stop = row.index(3)
        assert row[0] == 2 and min(row[1:stop]) >= 4 and not any(row[stop + 1 :])  # <bos> pieces <eos> pad
        assert tgt_vocab.to_text(row[1:stop]) == line
    assert src_vocab.to_text(src[0].tolist()[: src[0].tolist().index(3)]) == "ein haus."
    assert splits.references == ("a tree.", "this is a very long test .")
    again = load_dataset("iwslt", root=tmp_path, max_len=None, max_vocab=30, tokenizer=tokenizer)
    assert all(a.equal(b) for a, b in zip(splits.train.tensors + splits.test.tensors,
                                          again.train.tensors + again.test.tensors))  # fmt: skip
    # max_len counts pieces: sentences split into more pieces than words are dropped sooner
    longest = int((tgt != 0).sum(1).max()) - 2
    assert (
        len(
            load_dataset("iwslt", root=tmp_path, max_len=longest - 1, max_vocab=30, tokenizer=tokenizer).train
        )
        < 3
    )


def test_iwslt_bad_tokenizer_options(tmp_path):
    write_pairs(tmp_path, "train", TRAIN)
    write_pairs(tmp_path, "test", TEST)
    with pytest.raises(
        ValueError, match=r"unknown tokenizer 'spm'; choose from \['word', 'unigram', 'bpe'\]"
    ):
        load_dataset("iwslt", root=tmp_path, tokenizer="spm")
    with pytest.raises(ValueError, match="max_vocab must be a number of subword pieces"):
        load_dataset("iwslt", root=tmp_path, tokenizer="bpe", max_vocab=None)
