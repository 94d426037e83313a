"""The classification task against the run written out by hand: same weights and metrics, bit for bit."""

import math

import pytest
import torch
import torch.nn.functional as F

from normact.data import mixup, mixup_loss
from normact.models import create_model
from normact.train import train
from normact.train.batches import Batches
from normact.train.classification import evaluate, top_k_hits
from normact.train.loop import stream_seed
from normact.train.optim import build_optimizer, build_scheduler, clip_gradients

from .tinyrun import make_splits, tiny_config


def _hand_written_run(cfg, data):
    """The runner's seeding, batching and step as one plain loop (no task object, no runner)."""
    seed, dcfg = cfg.train.seed, cfg.data
    data_gen = torch.Generator().manual_seed(stream_seed(seed, 1))
    aug_gen = torch.Generator().manual_seed(stream_seed(seed, 2))
    train_batches = Batches(data.train, dcfg.batch_size, generator=data_gen, transform_generator=aug_gen)
    test_batches = Batches(data.test, dcfg.eval_batch_size)
    torch.manual_seed(seed)
    model = create_model("tiny_mlp", num_classes=data.num_classes, input_shape=(8,), act="relu")
    opt = build_optimizer(model, cfg.optim)
    sched = build_scheduler(opt, cfg.schedule, cfg.optim.lr, cfg.train.epochs, len(train_batches))
    history = []
    for _ in range(cfg.train.epochs):
        model.train()
        loss_sum, hit_sum, count = 0.0, 0.0, 0
        for x, y in train_batches:
            opt.zero_grad()
            if dcfg.mixup_alpha:
                x, y_a, y_b, lam = mixup(x, y, dcfg.mixup_alpha, aug_gen)
                logits = model(x)
                loss = mixup_loss(logits, y_a, y_b, lam)
                pred = logits.argmax(1)
                hits = lam * (pred == y_a).sum().item() + (1 - lam) * (pred == y_b).sum().item()
            else:
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.train.label_smoothing)
                hits = (logits.argmax(1) == y).sum().item()
            loss.backward()
            clip_gradients(model.parameters(), cfg.optim.clip_grad_value, cfg.optim.clip_grad_norm)
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(y)
            hit_sum += hits
            count += len(y)
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(x) for x, _ in test_batches])
            y = torch.cat([y for _, y in test_batches])
        test_loss = F.cross_entropy(logits.double(), y).item()
        top5 = logits.topk(min(5, data.num_classes), dim=1).indices
        history.append(
            {
                "train_loss": loss_sum / count,
                "train_acc": hit_sum / count,
                "test_loss": test_loss,
                "test_acc": (logits.argmax(1) == y).double().mean().item(),
                "test_acc5": (top5 == y[:, None]).any(1).double().mean().item(),
                "lr": lr,
            }
        )
    return model, history


@pytest.mark.parametrize(
    ("overrides", "classes"),
    [
        (["train.label_smoothing=0.1", "optim.clip_grad_norm=0.5"], 3),
        (["data.mixup_alpha=0.7", "optim.name=adamw", "optim.lr=0.01"], 3),
        (["optim.lr=0.01"], 12),
    ],
    ids=["smoothing-clip", "mixup-adamw", "twelve-classes"],
)
def test_classification_run_equals_the_hand_written_loop(overrides, classes):
    cfg = tiny_config(None, "data.normalize=false", *overrides)
    result = train(cfg, data=make_splits(classes=classes))
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.train.threads)  # as the runner: the sums in a matmul depend on it
    try:
        model, history = _hand_written_run(cfg, make_splits(classes=classes))
    finally:
        torch.set_num_threads(threads)
    for key, value in model.state_dict().items():
        assert torch.equal(result.model.state_dict()[key], value), key  # same steps, bit for bit
    for ours, ref in zip(result.history, history, strict=True):
        assert ours["lr"] == ref["lr"] and ours["test_acc"] == ref["test_acc"]
        assert ours["test_acc5"] == ref["test_acc5"]  # torch.topk: another route to the same count
        for key in ("train_loss", "train_acc", "test_loss"):  # sums in another order and precision
            assert math.isclose(ours[key], ref[key], rel_tol=1e-6), key


# five samples over seven classes; the label's rank (classes strictly above it) counted by hand
ROW = [0.1, 2.0, 0.3, -1.0, 0.5, 0.2, 0.0]
LOGITS = torch.tensor([ROW, ROW, ROW, ROW, [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
LABELS = torch.tensor([1, 3, 0, 6, 2])  # ranks 0, 6, 4, 5 and 0 (a three-way tie at the top)


@pytest.mark.parametrize(("k", "hits"), [(1, 2), (4, 2), (5, 3), (6, 4), (7, 5), (50, 5)])
def test_top_k_hits_counts_labels_ranked_below_k(k, hits):
    assert top_k_hits(LOGITS, LABELS, k).item() == hits


def test_evaluate_reports_top1_and_top5():
    batches = [(LOGITS[:3], LABELS[:3]), (LOGITS[3:], LABELS[3:])]  # the "model" passes logits through
    out = evaluate(torch.nn.Identity(), batches)
    # top-1 by argmax: only sample 0 (sample 4's argmax is class 0, the first of the tie)
    assert out["test_acc"] == 1 / 5
    assert out["test_acc5"] == 3 / 5  # ranks 0, 4 and 0 are below 5
    log_z = [math.log(sum(math.exp(v) for v in row)) for row in LOGITS.tolist()]
    nll = [z - LOGITS[i, LABELS[i]].item() for i, z in enumerate(log_z)]
    assert math.isclose(out["test_loss"], sum(nll) / 5, rel_tol=1e-6)
    # three classes: top-5 is top-3, every label is in it
    three = [(LOGITS[:, :3], torch.tensor([0, 1, 2, 2, 1]))]
    assert evaluate(torch.nn.Identity(), three)["test_acc5"] == 1.0
