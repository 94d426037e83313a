from pathlib import Path

import pytest

from normact.data import CorruptDataError, MissingDataError, load_dataset

REVIEWS = {
    ("train", "pos"): {"0_9": "Great movie, great cast!", "10_8": "A great film.", "2_10": "Loved it"},
    ("train", "neg"): {"1_2": "Bad movie.<br />Awful plot.", "3_1": "bad bad bad"},
    ("test", "pos"): {"0_7": "great fun"},
    ("test", "neg"): {"0_3": "terrible movie"},
}


def write_imdb(root: Path) -> None:
    for (split, sentiment), reviews in REVIEWS.items():
        folder = root / split / sentiment
        folder.mkdir(parents=True)
        for stem, text in reviews.items():
            (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("great great great great great")


def test_imdb(tmp_path):
    write_imdb(tmp_path / "aclImdb")
    splits = load_dataset("imdb", root=tmp_path, max_len=6)
    vocab = splits.vocab
    x, y = splits.train.tensors
    # neg before pos; within a folder by the numeric id (2_10 before 10_8).
    assert y.tolist() == [0, 0, 1, 1, 1]
    assert vocab.decode(x[0].tolist()) == ["bad", "movie", ".", "awful", "plot", "."]
    assert vocab.decode(x[3].tolist()) == ["loved", "it"] and x[3, 2:].eq(0).all()
    assert vocab.decode(x[4].tolist()) == ["a", "great", "film", "."]
    # Counts come from the labelled training reviews only: bad 4, great 3, '.' 3, movie 2 (unsup ignored).
    assert vocab.itos[2:6] == ["bad", ".", "great", "movie"]
    x_test, y_test = splits.test.tensors
    assert y_test.tolist() == [0, 1]
    assert vocab.decode(x_test[0].tolist()) == ["<unk>", "movie"]  # 'terrible' appears only in test
    assert x.shape == (5, 6) and splits.input_shape == (6,) and splits.num_classes == 2


def test_imdb_vocab_options(tmp_path):
    write_imdb(tmp_path)
    assert len(load_dataset("imdb", root=tmp_path, max_vocab=3).vocab) == 5
    assert load_dataset("imdb", root=tmp_path, min_freq=3).vocab.itos == [
        "<pad>",
        "<unk>",
        "bad",
        ".",
        "great",
    ]


def test_imdb_missing_split(tmp_path):
    write_imdb(tmp_path)
    for review in (tmp_path / "test" / "neg").iterdir():
        review.unlink()
    (tmp_path / "test" / "neg").rmdir()
    with pytest.raises(MissingDataError) as err:
        load_dataset("imdb", root=tmp_path)
    assert str(tmp_path / "test" / "neg") in str(err.value) and "aclImdb_v1.tar.gz" in str(err.value)


def test_imdb_empty_folder(tmp_path):
    write_imdb(tmp_path)
    (tmp_path / "test" / "pos" / "0_7.txt").unlink()
    (tmp_path / "test" / "pos" / "notes.md").write_text("not a review")
    with pytest.raises(CorruptDataError) as err:
        load_dataset("imdb", root=tmp_path)
    assert (
        f"{tmp_path / 'test' / 'pos'}: no .txt reviews, found 0 folder(s) and 1 file(s) (notes.md); "
        "expected {train,test}/{pos,neg}/<id>_<rating>.txt" in str(err.value)
    )


@pytest.mark.parametrize("under_standard_name", [False, True])
def test_imdb_empty_folder_says_what_it_holds(tmp_path, under_standard_name):
    """A folder that is there but empty: the error names it (the one called aclImdb when the root holds
    one), says it holds nothing and gives the layout, rather than 'not found'."""
    folder = tmp_path / "aclImdb" if under_standard_name else tmp_path
    folder.mkdir(exist_ok=True)
    with pytest.raises(MissingDataError) as err:
        load_dataset("imdb", root=tmp_path)
    message = str(err.value)
    assert message.startswith(f"{folder / 'train' / 'neg'} not found: expected the train reviews ({folder} ")
    assert "holds 0 folder(s) and 0 file(s)); expected {train,test}/{pos,neg}/<id>_<rating>.txt" in message


def test_imdb_laid_out_differently(tmp_path):
    """pos/ and neg/ straight under the root, without the train/test folders."""
    for sentiment in ("pos", "neg"):
        (tmp_path / "aclImdb" / sentiment).mkdir(parents=True)
        (tmp_path / "aclImdb" / sentiment / "0_9.txt").write_text("a review")
    with pytest.raises(MissingDataError) as err:
        load_dataset("imdb", root=tmp_path)
    assert f"({tmp_path / 'aclImdb'} holds 2 folder(s) (neg/, pos/) and 0 file(s))" in str(err.value)
