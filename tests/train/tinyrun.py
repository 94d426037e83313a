"""A tiny registered model and random data shared by the runner tests (and their subprocesses)."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn
from torch.utils.data import TensorDataset

from normact.models import register_model
from normact.train import Config, load_config


@register_model("tiny_mlp")
class TinyMLP(nn.Module):
    """Linear -> BatchNorm -> act -> Dropout -> Linear, small enough for many runs per second."""

    def __init__(self, num_classes: int, input_shape: tuple[int, ...], width: int = 16, act: str = "relu"):
        super().__init__()
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh}
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(math.prod(input_shape), width)
        self.norm = nn.BatchNorm1d(width)
        self.act = acts[act]()
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.norm(self.fc1(self.flat(x))))))


@register_model("tiny_conv")
class TinyConv(nn.Module):
    """Conv -> BatchNorm -> ReLU -> Linear on 1x4x4 images."""

    def __init__(self, num_classes: int, input_shape: tuple[int, ...], act: str = "relu"):
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * math.prod(input_shape[1:]), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.norm(self.conv(x))).flatten(1))


@register_model("tiny_mlp64")
class TinyMLP64(nn.Module):
    """Linear -> tanh -> Linear in float64: no BatchNorm, no dropout (one process equals several)."""

    def __init__(self, num_classes: int, input_shape: tuple[int, ...], width: int = 16):
        super().__init__()
        self.fc1 = nn.Linear(math.prod(input_shape), width, dtype=torch.float64)
        self.fc2 = nn.Linear(width, num_classes, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x.flatten(1))))


def make_splits(
    data_cfg: object = None,
    n_train: int = 96,
    n_test: int = 40,
    image: bool = False,
    dtype=torch.float32,
    classes: int = 3,
):
    """Random Gaussian blobs, one mean per class (fixed seed): vectors (8,) or 1x4x4 images in [0, 1]."""
    g = torch.Generator().manual_seed(1234)
    shape = (1, 4, 4) if image else (8,)
    centers = torch.randn(classes, *shape, generator=g)
    y = torch.randint(0, classes, (n_train + n_test,), generator=g)
    x = centers[y] + 0.8 * torch.randn(n_train + n_test, *shape, generator=g)
    mean = std = None
    if image:
        x = torch.sigmoid(x)
        mean, std = (x[:n_train].mean().item(),), (x[:n_train].std().item(),)
    x = x.to(dtype)
    return SimpleNamespace(
        train=TensorDataset(x[:n_train], y[:n_train]),
        test=TensorDataset(x[n_train:], y[n_train:]),
        num_classes=classes,
        input_shape=shape,
        name="blobs",
        mean=mean,
        std=std,
    )


def tiny_config(out_dir: object = None, *overrides: str) -> Config:
    """A three-epoch run of ``tiny_mlp`` with a warm-up and a cosine schedule."""
    base = {
        "study": "tiny",
        "data": {"name": "blobs", "batch_size": 16, "eval_batch_size": 16},
        "model": {"name": "tiny_mlp", "act": "relu"},
        "optim": {"name": "sgd", "lr": 0.05, "weight_decay": 1e-3},
        "schedule": {"name": "cosine", "warmup_epochs": 0.5},
        "train": {
            "epochs": 3,
            "threads": 1,
            "progress": "none",
            "out_dir": None if out_dir is None else str(out_dir),
        },
    }
    return load_config(base, overrides)


# runs of test_distributed: a float64 model without BatchNorm or dropout, and normalized activations
FLOAT64 = ["model.name=tiny_mlp64", "model.act=null", "data.normalize=false", "optim.weight_decay=0"]
NORMALIZED = ["model.name=mlp", "model.act=nrelu", "model.init=null", "model.kwargs.depth=2",
              "model.kwargs.width=16", "optim.lr=0.02"]  # fmt: skip


class KillOnce:
    """Kill its own process (SIGKILL) after epoch 2, once per marker file: a worker that dies mid-run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: object) -> dict[str, float]:
        if epoch == 2 and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return {}


def kill_once(marker_dir: str, config: Config) -> list[KillOnce]:
    """Callbacks of a sweep whose every run's worker dies once after its second epoch."""
    return [KillOnce(Path(marker_dir) / f"{config.variant}-seed{config.train.seed}.killed")]
