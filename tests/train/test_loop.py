import logging
import math
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from normact.train import ResultsStore, checkpoint_path, config_hash, load_checkpoint, train
from normact.train.checkpoint import CheckpointError
from normact.train.loop import RunExistsError

from .tinyrun import make_splits, tiny_config

TESTS = Path(__file__).resolve().parents[1]
AUGMENT = "[{name: RandomCrop, size: 4, padding: 1}, {name: RandomHorizontalFlip}]"
SRC = TESTS.parent / "src"


def _drop_time(history):
    return [{k: v for k, v in entry.items() if k != "time"} for entry in history]


def _assert_same_run(a, b):
    """Bit-identical parameters, buffers and metrics (wall-clock time aside)."""
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert _drop_time(a.history) == _drop_time(b.history)
    assert (a.status, a.epochs_done, a.diverged_epoch) == (b.status, b.epochs_done, b.diverged_epoch)


def _assert_same_optimizer(path_a, path_b):
    oa, ob = load_checkpoint(path_a)["optimizer"], load_checkpoint(path_b)["optimizer"]
    assert oa["param_groups"] == ob["param_groups"]
    for i, state in oa["state"].items():
        for k, v in state.items():
            assert torch.equal(v, ob["state"][i][k]) if torch.is_tensor(v) else v == ob["state"][i][k]


class Record:
    """A callback that records what it is given and messes with every RNG it can reach."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, model, epoch, batches):
        sizes = [len(y) for _, y in batches]
        self.seen.append((epoch, model.training, sizes))
        torch.rand(5), np.random.rand(3), random.random()  # noqa: NPY002
        x, _ = next(iter(batches))
        model(x).sum().backward()  # gradients are reset before the next step
        return {"weight_mean/fc1": model.fc1.weight.mean().item(), "batches": float(len(sizes))}


def test_run_is_seeded_and_stored(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    cfg = tiny_config(tmp_path)
    a = train(cfg, store, data=make_splits())
    b = train(tiny_config(), data=make_splits())
    _assert_same_run(a, b)
    assert a.status == "finished" and a.epochs_done == 3 and a.diverged_epoch is None
    assert a.history[-1]["train_loss"] < a.history[0]["train_loss"]
    assert a.history[-1]["test_acc"] > 0.6  # three separable blobs: far above chance
    rec = store.get_run(a.run_id)
    assert (rec.status, rec.epochs_done, rec.config_hash) == ("finished", 3, a.config_hash)
    assert store.history(a.run_id) == a.history
    assert a.checkpoint == checkpoint_path(cfg) and load_checkpoint(a.checkpoint)["epoch"] == 3
    c = train(tiny_config(None, "train.seed=1"), data=make_splits())
    assert not torch.equal(c.model.fc1.weight, a.model.fc1.weight)


def test_runtime_settings_hold_during_the_run_and_are_restored():
    seen = []

    class Watch:
        def on_epoch_end(self, model, epoch, batches):
            det = torch.utils.deterministic
            seen.append((torch.are_deterministic_algorithms_enabled(), det.fill_uninitialized_memory))
            return {}

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    train(tiny_config(None, "train.deterministic=true"), callbacks=[Watch()], data=make_splits())
    assert seen and set(seen) == {(True, False)}  # deterministic, without filling new memory with NaN
    after = (
        torch.are_deterministic_algorithms_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    assert after == before


def test_callbacks_are_stored_and_do_not_perturb_training(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    rec = Record()
    cfg = tiny_config(None, "train.probe_samples=20", "model.kwargs.width=12")
    with_cb = train(cfg, store, [rec], data=make_splits())
    without = train(cfg, data=make_splits())
    assert _drop_time(without.history) == [
        {k: v for k, v in h.items() if k not in ("weight_mean/fc1", "batches")}
        for h in _drop_time(with_cb.history)
    ]
    for key in without.model.state_dict():
        assert torch.equal(without.model.state_dict()[key], with_cb.model.state_dict()[key])
    assert rec.seen == [(e, False, [16, 4]) for e in (1, 2, 3)]  # eval mode, the first 20 test samples
    assert with_cb.model.training
    stored = store.history(with_cb.run_id)
    assert [h["weight_mean/fc1"] for h in stored] == [h["weight_mean/fc1"] for h in with_cb.history]


def test_callback_errors(tmp_path):
    with pytest.raises(TypeError, match="has no on_epoch_end"):
        train(tiny_config(), callbacks=[lambda *a: {}], data=make_splits())

    class Clash:
        def on_epoch_end(self, model, epoch, batches):
            return {"test_acc": 1.0}

    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match=r"metric names \['test_acc'\] that are already taken"):
        train(tiny_config(), store, [Clash()], data=make_splits())
    run = store.runs()[0]
    assert run.status == "failed" and "already taken" in run.error and "Traceback" in run.error


BLOW_UP_AT_EPOCH_2 = ("schedule.name=multistep", "schedule.milestones=[1]", "schedule.gamma=1e15")


def test_divergence_is_recorded_with_its_epoch_and_step(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    cfg = tiny_config(tmp_path, *BLOW_UP_AT_EPOCH_2)
    result = train(cfg, store, data=make_splits())
    assert (result.status, result.diverged_epoch, result.epochs_done) == ("diverged", 2, 1)
    # 6 steps an epoch: steps 7 and 8 (lr * 1e15) have finite losses (step 8 ~1e26), step 9 does not
    assert result.divergence == "diverged at epoch 2, step 9: non-finite training loss"
    assert [h["epoch"] for h in result.history] == [1, 2]
    partial = result.history[1]  # the diverging epoch up to the divergence: its first two steps
    assert set(partial) == {"epoch", "train_loss", "train_acc", "lr", "time"}
    assert math.isfinite(partial["train_loss"]) and partial["lr"] == pytest.approx(0.05 * 1e15)
    rec = store.get_run(result.run_id)
    assert (rec.status, rec.diverged_epoch, rec.epochs_done) == ("diverged", 2, 1)
    assert rec.error == result.divergence
    assert store.history(result.run_id) == result.history
    assert store.final_metrics([result.run_id], ["test_acc"]) == {result.run_id: {"test_acc": 0.825}}
    assert load_checkpoint(checkpoint_path(cfg))["epoch"] == 1


def test_non_finite_statistics_of_a_normalized_activation_are_a_divergence(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    nrelu = ("model.name=mlp", "model.act=nrelu", "model.kwargs={depth: 2, width: 8}")
    cfg = tiny_config(tmp_path, *nrelu, *BLOW_UP_AT_EPOCH_2)
    result = train(cfg, store, data=make_splits())
    assert (result.status, result.diverged_epoch, result.epochs_done) == ("diverged", 2, 1)
    assert result.divergence == (
        "diverged at epoch 2, step 8: non-finite batch statistics in layer 'blocks.fc2.act' (NReLU)"
    )
    assert set(result.history[1]) == {"epoch", "train_loss", "train_acc", "lr", "time"}  # step 7 only
    rec = store.get_run(result.run_id)
    assert (rec.status, rec.error) == ("diverged", result.divergence)
    assert store.history(result.run_id) == result.history


class ListDataset(Dataset):
    """A map-style dataset that is not a TensorDataset: goes through the DataLoader path."""

    def __init__(self, tensors):
        self.x, self.y = tensors.tensors

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class StopAt:
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, model, epoch, batches):
        if epoch == self.epoch:
            raise KeyboardInterrupt
        return {}


@pytest.mark.parametrize(
    "case",
    ["tensor-sgd", "loader-adam-clip", "augment-mixup-adamw"],
)
def test_resume_in_process_is_bit_identical(tmp_path, case):
    splits = make_splits(image=case.startswith("augment"))
    overrides = {
        "tensor-sgd": ["schedule.name=step", "schedule.step_size=1", "optim.nesterov=true"],
        "loader-adam-clip": ["optim.name=adam", "optim.lr=0.01", "optim.clip_grad_norm=0.5",
                             "optim.clip_grad_value=0.1", "data.drop_last=true"],
        "augment-mixup-adamw": ["optim.name=adamw", "optim.lr=0.01", "optim.weight_decay_groups.norm=0",
                                "data.mixup_alpha=0.7", f"data.transforms={AUGMENT}"],
    }[case]  # fmt: skip
    if case.startswith("loader"):
        splits.train, splits.test = ListDataset(splits.train), ListDataset(splits.test)
    full = train(tiny_config(tmp_path / "full", *overrides), data=splits)
    store = ResultsStore(tmp_path / "r.sqlite")
    cfg = tiny_config(tmp_path / "cut", *overrides)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, store, [StopAt(2)], data=splits)
    run = store.runs()[0]
    assert (run.status, run.epochs_done) == ("failed", 1) and "KeyboardInterrupt" in run.error
    assert load_checkpoint(checkpoint_path(cfg))["epoch"] == 1
    resumed = train(cfg, store, data=splits, resume=True)
    _assert_same_run(full, resumed)
    _assert_same_optimizer(full.checkpoint, resumed.checkpoint)
    assert _drop_time(store.history(resumed.run_id)) == _drop_time(full.history)
    assert store.get_run(resumed.run_id).status == "finished"


class FirstBatch:
    def on_epoch_end(self, model, epoch, batches):
        self.x = next(iter(batches))[0]
        return {}


@pytest.mark.parametrize("normalize", [True, False])
def test_inputs_are_normalized_with_the_dataset_statistics(normalize):
    splits = make_splits(image=True)
    probe = FirstBatch()
    train(tiny_config(None, f"data.normalize={normalize}", "train.epochs=1"), callbacks=[probe], data=splits)
    raw = splits.test.tensors[0][:16]
    expected = (raw - splits.mean[0]) / splits.std[0] if normalize else raw
    torch.testing.assert_close(probe.x, expected, rtol=0, atol=1e-6)


def test_unknown_transform_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"data.transforms\[0\]: unknown transform 'Flip'; choose from \[.*'RandomCrop'"
    ):
        train(tiny_config(None, "data.transforms=[{name: Flip}]"), data=make_splits(image=True))


def test_resume_errors_and_fresh_start(tmp_path):
    with pytest.raises(ValueError, match="resume needs checkpoints"):
        train(tiny_config(), data=make_splits(), resume=True)
    fresh = train(tiny_config(tmp_path), data=make_splits(), resume=True)  # no checkpoint yet: from scratch
    again = train(tiny_config(tmp_path), data=make_splits(), resume=True)  # finished: nothing left to do
    _assert_same_run(fresh, again)


def test_progress_log_lines(caplog):
    with caplog.at_level(logging.INFO, logger="normact.train"):
        train(tiny_config(None, "train.progress=auto"), data=make_splits())  # stderr is not a terminal here
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in lines] == [f"tiny/default/seed0 epoch {e}/3" for e in (1, 2, 3)]
    assert "test_acc" in lines[0]


_KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from train.tinyrun import make_splits, tiny_config
    from normact.train import ResultsStore, train

    class Slow:
        def on_epoch_end(self, model, epoch, batches):
            time.sleep(0.25)
            return {}

    cfg = tiny_config(sys.argv[3], "train.epochs=8")
    train(cfg, ResultsStore(sys.argv[4]), [Slow()], data=make_splits())
    """
)


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    cfg = tiny_config(tmp_path / "killed", "train.epochs=8")
    ckpt = checkpoint_path(cfg)
    store = ResultsStore(tmp_path / "r.sqlite")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(SRC), str(TESTS), str(tmp_path / "killed"), str(store.path)]
    )
    deadline = time.monotonic() + 60
    while not ckpt.exists():
        assert proc.poll() is None and time.monotonic() < deadline, (
            "the run ended before its first checkpoint"
        )
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    killed_at = load_checkpoint(ckpt)["epoch"]
    assert 1 <= killed_at < 8
    assert store.runs()[0].status == "interrupted"  # still "running" in the table: nobody wrote since
    resumed = train(cfg, store, data=make_splits(), resume=True)
    full = train(tiny_config(tmp_path / "full", "train.epochs=8"), data=make_splits())
    _assert_same_run(full, resumed)
    _assert_same_optimizer(full.checkpoint, resumed.checkpoint)
    assert _drop_time(store.history(resumed.run_id)) == _drop_time(full.history)
    assert store.get_run(resumed.run_id).status == "finished"


def test_probes_measure_the_initial_model_as_epoch_0(tmp_path):
    from normact.models import create_model
    from normact.probes.callbacks import build_probe_callbacks

    store = ResultsStore(tmp_path / "r.sqlite")
    cfg = tiny_config(tmp_path, "train.probes=[weight_means]")
    result = train(cfg, store, data=make_splits())
    torch.manual_seed(cfg.train.seed)  # the initial model, built again as the runner builds it
    initial = create_model("tiny_mlp", num_classes=3, input_shape=(8,), act="relu")
    expected = build_probe_callbacks(["weight_means"])[0].on_epoch_end(initial, 0, [])
    assert result.history[0] == {"epoch": 0, **expected}
    assert [h["epoch"] for h in result.history] == [0, 1, 2, 3] and result.epochs_done == 3
    assert store.history(result.run_id) == result.history
    without = train(tiny_config(None), data=make_splits())  # measuring changes nothing of the run
    assert _drop_time(without.history) == [
        {k: v for k, v in h.items() if not k.startswith("weight_mean/")}
        for h in _drop_time(result.history[1:])
    ]
    resumed = train(cfg, store, data=make_splits(), resume=True)  # epoch 0 is kept, not measured again
    assert store.history(resumed.run_id)[0] == result.history[0]


def _snapshot(store, cfg):
    """Everything a finished run leaves behind: its row, its metrics and its checkpoint's bytes."""
    (row,) = store.runs()
    return row, store.history(row.id), checkpoint_path(cfg).read_bytes()


def test_a_finished_result_is_kept_unless_rerun_is_asked_for(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    cfg = tiny_config(tmp_path, "train.epochs=2")
    first = train(cfg, store, data=make_splits())
    before = _snapshot(store, cfg)
    with pytest.raises(RunExistsError, match=r"tiny/default/seed0 is already finished in .*--rerun replaces"):
        train(cfg, store, data=make_splits())
    resumed = train(cfg, store, data=make_splits(), resume=True)  # at its end already: nothing written
    assert (resumed.status, resumed.epochs_done, resumed.run_id) == ("finished", 2, first.run_id)
    _assert_same_run(first, resumed)
    assert _snapshot(store, cfg) == before
    again = train(cfg, store, data=make_splits(), rerun=True)
    row = store.get_run(again.run_id)
    assert (row.id, row.status) == (first.run_id, "finished") and row.started_at > before[0].started_at


def test_a_diverged_result_is_kept_too(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    cfg = tiny_config(tmp_path, *BLOW_UP_AT_EPOCH_2)
    first = train(cfg, store, data=make_splits())
    before = _snapshot(store, cfg)
    with pytest.raises(RunExistsError, match="already diverged"):
        train(cfg, store, data=make_splits())
    resumed = train(cfg, store, data=make_splits(), resume=True)
    assert (resumed.status, resumed.diverged_epoch, resumed.divergence) == ("diverged", 2, first.divergence)
    assert _snapshot(store, cfg) == before


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("model.kwargs.width=-1", "negative dimension"),
        ("model.kwargs.foo=1", "tiny_mlp' takes no argument 'foo'"),
        ("data.transforms=[{name: Blur}]", r"data.transforms\[0\]: unknown transform 'Blur'"),
    ],
)
def test_a_run_that_cannot_be_built_leaves_no_row(tmp_path, override, match):
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises((ValueError, RuntimeError), match=match):
        train(tiny_config(tmp_path, override), store, data=make_splits())
    assert store.runs() == []


def test_bad_checkpoints_name_their_file_and_leave_the_store_alone(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    cfg = tiny_config(tmp_path)
    path = checkpoint_path(cfg)
    path.parent.mkdir(parents=True)
    for content, match in [
        (b"", "empty, truncated or not a checkpoint"),
        (b"garbage" * 10, "empty, truncated or not a checkpoint"),
    ]:
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=rf"{path.name}.*{match}.*delete it"):
            train(cfg, store, data=make_splits(), resume=True)
    train(tiny_config(tmp_path, "train.epochs=1"), data=make_splits())  # another config's checkpoint
    state = load_checkpoint(checkpoint_path(tiny_config(tmp_path, "train.epochs=1")))
    state["config_hash"] = config_hash(cfg)
    for broken, match in [
        ({k: v for k, v in state.items() if k != "optimizer"}, "no entry 'optimizer'"),
        ({**state, "model": {**state["model"], "fc1.weight": torch.zeros(3, 3)}}, "size mismatch for fc1"),
    ]:
        torch.save(broken, path)
        with pytest.raises(CheckpointError, match=rf"{path.name}.*does not fit this run \(.*{match}"):
            train(cfg, store, data=make_splits(), resume=True)
    assert store.runs() == []


def test_an_unwritable_checkpoint_folder_is_refused_before_training(tmp_path):
    (tmp_path / "file").write_text("")
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(CheckpointError, match=r"cannot write checkpoints to .*set train\.out_dir"):
        train(tiny_config(tmp_path / "file"), store, data=make_splits())
    assert store.runs() == []
