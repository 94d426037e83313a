"""Every model of the zoo through the runner's convention: ``create_model(name, num_classes=...,
input_shape=..., act=..., init=..., **kwargs)`` as ``normact.train`` calls it."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import TensorDataset

from normact.models import list_models
from normact.nn import NormalizedActivation
from normact.train import load_config, train
from normact.train.config import ModelConfig
from normact.train.loop import build_model

from .helpers import forward_backward

IMAGE = (3, 16, 16)
# name -> (input_shape, model kwargs that make it tiny, act, init)
ZOO = {
    "vgg": (IMAGE, {"depth": 11, "width": 0.125}, "nswish", "xavier"),
    "vgg16": (IMAGE, {"width": 0.125}, "relu", "he"),
    "vgg16_11": (IMAGE, {"width": 0.125, "block_order": "swap"}, "lecun_tanh", "xavier"),
    "vgg19": (IMAGE, {"width": 0.125}, "nrelu", "xavier"),
    "mobilenet_v1": (IMAGE, {"width": 0.125}, "softsign", "he"),
    "conv_mobilenet_v1": (IMAGE, {"width": 0.125, "centralize": True}, "sselu", "lecun"),
    "serial_cnn": (IMAGE, {"depth": 14, "width": 0.25}, "lselu", "lecun"),
    "mlp": ((12,), {"depth": 4, "width": 8}, "selu", "lecun"),
    "resnet": (IMAGE, {"depth": 18, "width": 0.125}, "nrelu", "xavier"),
    "resnet34": (IMAGE, {"width": 0.0625, "norm": "normprop3"}, "crelu", "xavier"),
    "resnet50": (IMAGE, {"width": 0.0625}, "nswish", "xavier"),
    "resnet101": (IMAGE, {"width": 0.0625, "norm": "plain"}, "relu", "orthogonal"),
    "resnet_cifar": (IMAGE, {"depth": 8, "width": 0.5, "norm": "normprop"}, "relu", "xavier"),
}
TEXT = {
    "textrcnn": (
        (10,),
        {"vocab_size": 30, "embed_dim": 8, "hidden_size": 4, "proj_dim": 6},
        "nrelu",
        "xavier",
    ),
}


def test_every_zoo_model_is_covered():
    registered = set(list_models())
    assert set(ZOO) | set(TEXT) | {"transformer"} <= registered


@pytest.mark.parametrize("name", sorted(ZOO))
def test_runner_builds_and_trains_a_step(name):
    shape, kwargs, act, init = ZOO[name]
    model = build_model(ModelConfig(name=name, act=act, init=init, kwargs=kwargs), 5, shape)
    forward_backward(model, torch.randn(2, *shape), 5)
    if act.startswith("n"):
        assert any(isinstance(m, NormalizedActivation) for m in model.modules())


def test_runner_builds_text_models():
    shape, kwargs, act, init = TEXT["textrcnn"]
    model = build_model(ModelConfig(name="textrcnn", act=act, init=init, kwargs=kwargs), 2, shape)
    out = model(torch.randint(0, 30, (4, *shape)))
    assert out.shape == (4, 2)
    transformer = build_model(
        ModelConfig(
            name="transformer", act="nswish", kwargs={"src_vocab_size": 20, "d_model": 8, "nhead": 2}
        ),
        25,
        (7,),
    )
    assert transformer(torch.randint(1, 20, (2, 7)), torch.randint(1, 25, (2, 5))).shape == (2, 5, 25)


def test_a_short_run_through_the_runner(tmp_path):
    """Two epochs of a CReLU ResNet on learnable random images: finished, and better than chance."""
    g = torch.Generator().manual_seed(0)
    centers = torch.rand(3, 3, 8, 8, generator=g)
    y = torch.randint(0, 3, (160,), generator=g)
    x = (centers[y] + 0.1 * torch.randn(160, 3, 8, 8, generator=g)).clamp(0, 1)
    data = SimpleNamespace(
        train=TensorDataset(x[:120], y[:120]),
        test=TensorDataset(x[120:], y[120:]),
        num_classes=3,
        input_shape=(3, 8, 8),
        name="blobs",
        mean=None,
        std=None,
    )
    config = load_config(
        {
            "study": "zoo",
            "data": {"name": "blobs", "batch_size": 20, "eval_batch_size": 40},
            "model": {
                "name": "resnet_cifar",
                "act": "crelu",
                "init": "he",
                "kwargs": {"depth": 8, "width": 0.5},
            },
            "optim": {"name": "adam", "lr": 0.01},
            "train": {"epochs": 2, "threads": 1, "progress": "none", "out_dir": None},
        },
        [],
    )
    result = train(config, data=data)
    assert result.status == "finished" and result.epochs_done == 2
    final = result.history[-1]
    assert math.isfinite(final["train_loss"]) and final["test_acc"] > 0.5
