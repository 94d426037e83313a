from pathlib import Path

import pytest

from normact.data import CorruptDataError, MissingDataError, load_dataset

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
