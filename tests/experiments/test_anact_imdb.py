"""anact-imdb: its runs, the smoke scale end to end on a tiny aclImdb folder, a bad folder refused first."""

import numpy as np
import pytest

from normact.data import DataError
from normact.experiments import get_preset
from normact.experiments import reproduce as run_reproduce
from normact.functional import fused_kernels
from normact.train import ResultsStore

WORDS = {"pos": ["great", "superb", "moving", "fun"], "neg": ["awful", "dull", "boring", "bad"]}
FILLER = ["the", "film", "plot", "actor", "scene", "was", "and", "a", "it", "story"]


def write_tiny_imdb(folder, per_class=12, seed=0):
    """aclImdb's layout, `{train,test}/{pos,neg}/<id>_<rating>.txt`: short reviews whose sentiment words
    give the label away, and an unlabelled `train/unsup` the reader must leave out."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for sentiment, words in WORDS.items():
            sub = folder / split / sentiment
            sub.mkdir(parents=True)
            for i in range(per_class):
                text = " ".join(rng.choice(FILLER + words, 20))
                rating = rng.integers(7, 11) if sentiment == "pos" else rng.integers(1, 5)
                (sub / f"{i}_{rating}.txt").write_text(text + ".", encoding="utf-8")
    (folder / "train" / "unsup").mkdir()
    (folder / "train" / "unsup" / "0_0.txt").write_text("unlabelled", encoding="utf-8")
    return folder


def test_anact_imdb_runs_follow_the_papers_setting():
    preset = get_preset("anact-imdb")
    assert list(preset.variants) == ["relu", "nrelu", "swish", "nswish"]
    assert set(preset.scales) == {"smoke", "full"}  # no offline stand-in corpus: no cpu scale
    full = {c.variant: c for c in preset.sweep("full").configs() if c.train.seed == 0}
    assert len(preset.sweep("full").configs()) == 4 * 5  # "each network 5 times"
    relu, nrelu = full["relu"], full["nrelu"]
    assert (relu.model.name, relu.data.name, relu.data.batch_size) == ("textrcnn", "imdb", 128)
    # Table 8's recipe: AdamW 1e-3, warm-up over the first epoch, dropout 0.5, clipping 3.0
    assert (relu.optim.name, relu.optim.lr, relu.optim.clip_grad_norm) == ("adamw", 1e-3, 3.0)
    assert relu.schedule.warmup_epochs == 1.0 and relu.model.kwargs["dropout"] == 0.5
    assert (relu.model.init, nrelu.model.init, nrelu.model.act) == ("he", "xavier", "nrelu")
    # the embedding holds every id the reader can give: the kept words, <pad> and <unk>
    for c in (relu, preset.sweep("smoke").base):
        assert c.model.kwargs["vocab_size"] == c.data.options["max_vocab"] + 2
    assert [(tuple(map(str, c.arms)), c.direction) for c in preset.claims] == [
        (("nrelu", "relu"), "greater"), (("nswish", "swish"), "greater")
    ]  # fmt: skip


def test_smoke_scale_end_to_end(tmp_path):
    """The YAML's smoke scale, every activation, on a tiny aclImdb folder: runs, store and report."""
    write_tiny_imdb(tmp_path / "data" / "aclImdb")
    with fused_kernels(False):
        result = run_reproduce("anact-imdb", "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    assert [(i.variant, i.status) for i in result.items] == [
        (v, "finished") for v in ("relu", "nrelu", "swish", "nswish")
    ]
    text = result.path.read_text()
    assert "| NSwish | 90.1 |" in text and "| NReLU |" in text  # the paper's medians beside ours
    assert (result.path.parent / "accuracy.png").is_file() and result.report.verdicts == []
    history = ResultsStore(tmp_path / "r.sqlite").history(result.items[1].run_id)
    assert [h["epoch"] for h in history][-1] == 1 and 0.0 <= history[-1]["test_acc"] <= 1.0


@pytest.mark.parametrize(
    "damage, found",
    [
        ("missing", "looked in"),
        ("empty", "holds 0 folder(s) and 0 file(s)"),
        ("flat", "holds 2 folder(s) (neg/, pos/)"),
        ("no_test", "expected the test reviews"),
        ("no_reviews", "no .txt reviews, found 0 folder(s) and 1 file(s) (notes.md)"),
    ],
)
def test_a_bad_imdb_folder_fails_before_any_run(tmp_path, damage, found):
    """Missing, empty or laid out differently: the error names the folder, what it holds and the
    layout expected, and the store stays empty (no run started)."""
    root = tmp_path / "data" / "aclImdb"
    if damage == "empty":
        root.mkdir(parents=True)
    elif damage == "flat":  # the reviews directly in pos/ and neg/, without the split folders
        for sentiment in ("pos", "neg"):
            (root / sentiment).mkdir(parents=True)
            (root / sentiment / "0_9.txt").write_text("a review")
    elif damage != "missing":
        write_tiny_imdb(root, per_class=2)
        if damage == "no_test":
            for review in sorted((root / "test").rglob("*.txt")):
                review.unlink()
            for sub in ("pos", "neg"):
                (root / "test" / sub).rmdir()
            (root / "test").rmdir()
        else:
            for review in (root / "train" / "neg").iterdir():
                review.unlink()
            (root / "train" / "neg" / "notes.md").write_text("not a review")
    with pytest.raises(DataError) as err:
        run_reproduce("anact-imdb", "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    message = str(err.value)
    assert str(root if damage != "missing" else root.parent) in message and found in message
    assert "{train,test}/{pos,neg}/<id>_<rating>.txt" in message or damage == "missing"
    assert not (tmp_path / "r.sqlite").exists()  # failed before the store was opened
