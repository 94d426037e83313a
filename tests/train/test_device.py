"""train.device and train.precision: errors before training, bf16 autocast on the CPU, the stored runtime."""

import pytest
import torch

from normact.train import ConfigError, ResultsStore, load_checkpoint, train
from normact.train.device import device_name, resolve_device

from .tinyrun import make_splits, tiny_config

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.device=gpu"], r"'train.device' must be auto, cpu, cuda or cuda:N, got 'gpu'"),
        (["train.device=cuda:x"], r"'train.device' must be auto, cpu, cuda or cuda:N"),
        (["train.precision=fp16"], r"'train.precision' is fp16, which needs a CUDA device"),
        (["train.precision=half"], r"'train.precision' must be one of \['fp32', 'bf16', 'fp16'\]"),
        (["data.workers=-1"], r"'data.workers' must be >= 0"),
    ],
)
def test_bad_device_settings_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(None, *overrides)


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is available here")
def test_absent_cuda_is_refused_before_training(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match=r"train.device=cuda:1 but CUDA is not available here"):
        train(tiny_config(None, "train.device=cuda:1"), store, data=make_splits())
    with pytest.raises(ValueError, match=r"train.precision=fp16 needs a CUDA device \(train.device=auto"):
        train(tiny_config(None, "train.device=auto", "train.precision=fp16"), store, data=make_splits())
    assert store.runs() == []  # nothing started
    assert resolve_device("auto") == torch.device("cpu")


def test_bf16_autocast_on_cpu_trains_and_records_the_runtime(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    overrides = [
        "model.name=mlp",
        "model.act=nrelu",
        "model.kwargs.depth=2",
        "model.kwargs.width=32",
        "optim.lr=0.02",
    ]
    fp32 = train(tiny_config(tmp_path / "a", *overrides), store, data=make_splits())
    bf16 = train(tiny_config(tmp_path / "b", *overrides, "train.precision=bf16"), store, data=make_splits())
    assert bf16.status == "finished" and bf16.config_hash != fp32.config_hash
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # autocast: fp32 weights
    buffers = {k: v for k, v in bf16.model.state_dict().items() if "running" in k}
    assert buffers and all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in buffers.values())
    for key, value in buffers.items():  # the same statistics up to bf16's rounding of the activations
        torch.testing.assert_close(value, fp32.model.state_dict()[key], rtol=0.05, atol=0.02)
    assert abs(bf16.history[-1]["test_acc"] - fp32.history[-1]["test_acc"]) <= 0.1
    rows = {r.precision: r for r in store.runs()}
    assert set(rows) == {"fp32", "bf16"}
    for row in rows.values():
        assert (row.device, row.world_size, row.torch_version) == ("cpu", 1, torch.__version__)
        assert row.device_name == device_name(torch.device("cpu")) and row.device_name
    assert "scaler" not in load_checkpoint(bf16.checkpoint)  # only fp16 scales gradients


@pytest.mark.cuda
@pytest.mark.skipif(NO_CUDA, reason="needs CUDA")
def test_fp16_resume_keeps_the_gradient_scaler_and_is_exact(tmp_path):
    from .test_loop import StopAt, _assert_same_run

    overrides = ["train.device=cuda", "train.precision=fp16", "train.deterministic=true"]
    full = train(tiny_config(tmp_path / "full", *overrides), data=make_splits())
    cfg = tiny_config(tmp_path / "cut", *overrides)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[StopAt(2)], data=make_splits())
    resumed = train(cfg, data=make_splits(), resume=True)
    _assert_same_run(full, resumed)
    assert load_checkpoint(resumed.checkpoint)["scaler"]["scale"] > 0


def test_channels_last_gives_the_same_run():
    base = ["data.name=blobs", "model.name=tiny_conv"]
    plain = train(tiny_config(None, *base), data=make_splits(image=True))
    cl = train(tiny_config(None, *base, "train.channels_last=true"), data=make_splits(image=True))
    assert cl.model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(cl.model.state_dict()[key], value, rtol=1e-4, atol=1e-5)


def test_compiled_model_trains_and_checkpoints_the_plain_module(tmp_path, monkeypatch):
    """torch.compile with the eager backend (Inductor's code generation takes minutes on this CPU)."""
    compiled, compile = [], torch.compile

    def compile_eager(model, **kwargs):
        compiled.append(model)
        return compile(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_eager)
    plain = train(tiny_config(None, "train.epochs=1"), data=make_splits())
    result = train(tiny_config(tmp_path, "train.epochs=1", "train.compile=true"), data=make_splits())
    assert compiled == [result.model]  # the module itself is kept; its compiled wrapper runs
    state = load_checkpoint(result.checkpoint)["model"]
    assert state.keys() == plain.model.state_dict().keys()  # no "_orig_mod." prefixes
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6)


def test_loader_workers_do_not_change_the_run():
    from .test_loop import ListDataset, _assert_same_run

    def splits():
        s = make_splits()
        s.train, s.test = ListDataset(s.train), ListDataset(s.test)
        return s

    plain = train(tiny_config(None, "train.epochs=2"), data=splits())
    _assert_same_run(plain, train(tiny_config(None, "train.epochs=2", "data.workers=2"), data=splits()))
