"""train.task=translation: teacher-forced loss by hand, sacreBLEU of the translations, a run end to end."""

import math

import pytest
import sacrebleu
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from normact.data import load_dataset
from normact.functional import fused_kernels
from normact.train import Batches, ResultsStore, load_config, train
from normact.train.distributed import World
from normact.train.translation import TranslationTask, strip_tokens

WORDS = ["eins", "zwei", "drei", "vier", "fuenf", "sechs"]
ENGLISH = ["one", "two", "three", "four", "five", "six"]


def write_copy_task(root, n_train=48, n_test=8, seed=0):
    """Sentences of 2-5 German number words and their word-by-word English translations."""
    g = torch.Generator().manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        de, en = [], []
        for _ in range(n):
            ids = torch.randint(0, len(WORDS), (int(torch.randint(2, 6, (1,), generator=g)),), generator=g)
            de.append(" ".join(WORDS[i] for i in ids))
            en.append(" ".join(ENGLISH[i] for i in ids))
        (root / f"{split}.de").write_text("\n".join(de) + "\n")
        (root / f"{split}.en").write_text("\n".join(en) + "\n")
    return root.parent


def tiny_transformer_config(data_root, **overrides):
    cfg = {
        "study": "t", "variant": "nrelu",
        "data": {"name": "iwslt", "root": str(data_root), "batch_size": 8, "eval_batch_size": 4},
        "model": {"name": "transformer", "act": "nrelu", "kwargs": {
            "d_model": 16, "nhead": 2, "dim_feedforward": 32, "num_encoder_layers": 1,
            "num_decoder_layers": 1, "dropout": 0.0}},
        "optim": {"name": "adamw", "lr": 3e-3, "clip_grad_norm": 3.0},
        "schedule": {"name": "inverse_sqrt", "warmup_steps": 4, "warmup_start_factor": 0.0},
        "train": {"epochs": 2, "task": "translation", "label_smoothing": 0.1, "out_dir": None,
                  "progress": "none", "probe_samples": 4},
    }  # fmt: skip
    return load_config(cfg, [f"{k}={v}" for k, v in overrides.items()])


class Oracle(torch.nn.Module):
    """A 'model' with fixed logits and fixed translations (of the whole batch, from ``translations``)."""

    def __init__(self, vocab_size, translations, beam=5, length_penalty=1.0):
        super().__init__()
        self.vocab_size, self.translations = vocab_size, translations
        self.beam, self.length_penalty = beam, length_penalty
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, src, tgt_in):
        g = torch.Generator().manual_seed(int(src.sum()))
        return torch.randn(*tgt_in.shape, self.vocab_size, generator=g)

    def translate(self, src, bos, eos, max_len, beam, length_penalty):
        assert max_len == 2 * src.shape[1] + 10
        assert (beam, length_penalty) == (self.beam, self.length_penalty)  # the task's settings
        return self.translations(src)


@pytest.fixture
def splits(tmp_path):
    return load_dataset("iwslt", root=write_copy_task(tmp_path / "data" / "iwslt"))


def _batches(splits):
    src, tgt = splits.test.tensors
    return [(src[:4], tgt[:4]), (src[4:], tgt[4:])]


def _targets(splits, shift=0):
    """Translations that are the test targets (``shift``: each batch's, rotated by ``shift`` sentences)."""
    src, tgt = splits.test.tensors

    def translations(s):
        rows = slice(0, 4) if s.shape[0] == 4 and (s == src[:4]).all() else slice(4, None)
        return tgt[rows, 1:].roll(shift, 0)

    return translations


def test_evaluation_by_hand(splits):
    task = TranslationTask(splits, beam=3, length_penalty=0.6)
    vocab, batches = splits.target_vocab, _batches(splits)
    model = Oracle(len(vocab), _targets(splits), beam=3, length_penalty=0.6)
    out = task.evaluate(model, batches)
    loss = hits = tokens = 0.0
    for s, t in batches:
        logits = model(s, t[:, :-1])
        for i in range(t.shape[0]):
            for j in range(1, t.shape[1]):
                if t[i, j] != vocab.pad_index:
                    loss += float(F.cross_entropy(logits[i, j - 1], t[i, j]))
                    hits += float(logits[i, j - 1].argmax() == t[i, j])
                    tokens += 1
    assert out["test_loss"] == pytest.approx(loss / tokens, rel=1e-6)
    assert out["test_acc"] == pytest.approx(hits / tokens)
    assert out["bleu"] == pytest.approx(100.0)  # the references themselves


def test_bleu_is_sacrebleu_of_the_text(splits, tmp_path):
    """BLEU of shuffled translations equals sacreBLEU on the test file's own lines, shuffled alike."""
    lines = (tmp_path / "data" / "iwslt" / "test.en").read_text().splitlines()
    shuffled = [lines[(i - 1) % 4] for i in range(4)] + [lines[4 + (i - 1) % 4] for i in range(4)]
    expected = sacrebleu.corpus_bleu(shuffled, [lines]).score
    assert 0 < expected < 100
    task = TranslationTask(splits)
    assert task.evaluate(Oracle(len(splits.target_vocab), _targets(splits, 1)), _batches(splits))["bleu"] == (
        pytest.approx(expected)
    )
    unk = Oracle(
        len(splits.target_vocab), lambda s: torch.full((s.shape[0], 7), splits.target_vocab.unk_index)
    )
    assert task.evaluate(unk, _batches(splits))["bleu"] == 0.0  # a predicted <unk> never matches


def test_subword_translations_are_detokenised(tmp_path):
    """With subword pieces, the test targets' pieces decode to the reference text: BLEU 100."""
    root = write_copy_task(tmp_path / "data" / "iwslt")
    data = load_dataset("iwslt", root=root, tokenizer="bpe", max_vocab=40)
    out = TranslationTask(data).evaluate(Oracle(len(data.target_vocab), _targets(data)), _batches(data))
    assert out["bleu"] == pytest.approx(100.0)


def test_training_loss_has_label_smoothing(splits):
    src, tgt = splits.train.tensors[0][:4], splits.train.tensors[1][:4]
    model = Oracle(len(splits.target_vocab), None)
    logits, target = model(src, tgt[:, :-1]), tgt[:, 1:]
    keep = target != 0
    loss, hits, n, _ = TranslationTask(splits, label_smoothing=0.1).step(model, src, tgt)
    expected = F.cross_entropy(logits[keep], target[keep], label_smoothing=0.1)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6) and int(n) == int(keep.sum())
    assert int(hits) == int((logits.argmax(-1)[keep] == target[keep]).sum())


def test_strip_tokens():
    assert strip_tokens([2, 5, 0, 6, 3, 7, 3], eos=3, drop={0, 2}) == [5, 6]
    assert strip_tokens([5, 6], eos=3, drop=set()) == [5, 6]


def test_translation_run_end_to_end(tmp_path):
    root = write_copy_task(tmp_path / "data" / "iwslt")
    store = ResultsStore(tmp_path / "r.sqlite")
    with fused_kernels(False):  # the pure-torch path: no kernel build inside the test
        result = train(tiny_transformer_config(root, **{"train.epochs": 6}), store)
    assert result.status == "finished"
    history = store.history(result.run_id)
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert all(0 <= h["bleu"] <= 100 and math.isfinite(h["test_loss"]) for h in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # it learns the word-by-word copy
    assert result.model.src_embed.num_embeddings == 4 + len(WORDS)  # the source vocabulary's size
    # 6 training batches per epoch: lr = 3e-3 * sqrt(4 / step) after the 4 warm-up steps
    assert history[-1]["lr"] == pytest.approx(3e-3 * math.sqrt(4 / 35))


def test_translation_needs_parallel_text_and_no_mixup(tmp_path):
    root = write_copy_task(tmp_path / "data" / "iwslt")
    with pytest.raises(ValueError, match=r"mixup_alpha' works with train\.task=classification only"):
        train(tiny_transformer_config(root, **{"data.mixup_alpha": 0.2, "train.label_smoothing": 0.0}))
    cfg = load_config({"train": {"task": "translation", "out_dir": None, "progress": "none"}})
    with pytest.raises(ValueError, match="needs a parallel-text dataset"):
        train(cfg, data=load_dataset("digits"))
    with pytest.raises(ValueError, match="must be one of \\['classification', 'translation'\\]"):
        load_config({}, ["train.task=regression"])
    with pytest.raises(ValueError, match="label_smoothing' must be in \\[0, 1\\)"):
        load_config({}, ["train.label_smoothing=1.0"])
    with pytest.raises(ValueError, match=r"'train\.beam' must be >= 1, got 0"):
        load_config({}, ["train.task=translation", "train.beam=0"])
    with pytest.raises(ValueError, match=r"'train\.length_penalty' must be a finite number, got nan"):
        load_config({"train": {"task": "translation", "length_penalty": math.nan}})
    with pytest.raises(ValueError, match=r"'train\.beam' works with train\.task=translation only"):
        load_config({}, ["train.beam=1"])


def _by_source(splits):
    """The test targets of each source row, in any batch, but the first sentence's translated wrongly."""
    src, tgt = splits.test.tensors

    def translations(s):
        rows = [int((src == row).all(1).nonzero()[0]) for row in s]
        out = tgt[rows, 1:].clone()
        out[torch.tensor(rows) == 0] = 4  # a word the reference lacks, so BLEU is below 100
        return out

    return translations


def _evaluate_share(rank, world, init_file, root, out_dir):
    """One rank of a 2-process evaluation: its share of the test batches, the metrics of all of them."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    splits = load_dataset("iwslt", root=root)
    task = TranslationTask(splits, beam=3, world=World(rank, world))
    model = Oracle(len(splits.target_vocab), _by_source(splits), beam=3)
    torch.save(task.evaluate(model, Batches(splits.test, 3, every=(rank, world))), f"{out_dir}/{rank}.pt")
    dist.destroy_process_group()


def test_evaluation_split_over_two_processes_equals_one(splits, tmp_path):
    """Each rank translates batches rank, rank + 2, ...; loss, accuracy and BLEU are the whole set's."""
    root = tmp_path / "data"
    mp.spawn(_evaluate_share, args=(2, str(tmp_path / "init"), str(root), str(tmp_path)), nprocs=2)
    model = Oracle(len(splits.target_vocab), _by_source(splits), beam=3)
    one = TranslationTask(splits, beam=3).evaluate(model, Batches(splits.test, 3))
    assert 0 < one["bleu"] < 100
    for got in (torch.load(tmp_path / f"{r}.pt") for r in range(2)):
        assert got.keys() == one.keys()
        assert got["test_loss"] == pytest.approx(one["test_loss"], rel=1e-12)
        assert got["test_acc"] == one["test_acc"]
        assert got["bleu"] == one["bleu"]  # the translations gathered in the test set's order
