"""Shared fixtures: tiny MNIST-format and ImageNet-layout datasets on disk, small presets for the tests."""

from __future__ import annotations

import dataclasses
import gzip
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from normact.experiments import Scale, get_preset, list_presets, register_preset
from normact.train import ResultsStore, config_hash, config_to_dict


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file (MNIST's format), gzip-compressed: 00 00 08 ndim, big-endian sizes, uint8 values."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def write_tiny_mnist(folder: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """Learnable 28x28 images: class c is a bright 6x6 square at one of ten places, plus noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            r, col = 2 + 10 * (c // 5), 2 + 5 * (c % 5)
            images[i, r : r + 6, col : col + 6] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def write_imagenet(root, classes=("n01", "n02"), train=6, val=2, size=(36, 40), seed=0):
    """root/{train,val}/<class>/*.png with random pixels."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val)):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for k in range(count):
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{name}_{k}.png")


def preset_subset(base: str, name: str, variants: list[str]) -> str:
    """Register ``name``: a copy of preset ``base`` with only ``variants`` and the claims they decide."""
    if name not in list_presets():
        preset = get_preset(base)
        claims = tuple(c for c in preset.claims if c.applies(variants))
        keep = {v: preset.variants[v] for v in variants}
        register_preset(dataclasses.replace(preset, name=name, variants=keep, claims=claims))
    return name


def store_runs(path: Path, preset: str, scale: str, metrics_of) -> Path:
    """A store at ``path`` with one run per config of ``preset`` at ``scale``: ``metrics_of(cfg)`` gives
    its one epoch's metrics, or None for a run that diverged in that epoch."""
    db = ResultsStore(path)
    for cfg in get_preset(preset).sweep(scale).configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        metrics = metrics_of(cfg)
        if metrics is None:
            db.finish_run(run_id, "diverged", diverged_epoch=1)
            continue
        db.log_epoch(run_id, 1, metrics)
        db.finish_run(run_id, "finished")
    return path


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    """Tests never read the user's NORMACT_DATA."""
    monkeypatch.delenv("NORMACT_DATA", raising=False)


@pytest.fixture(scope="session")
def tiny_preset() -> str:
    """anact-lenet5's analysis on two activations of a tiny MNIST-format set, 2 epochs, 2 seeds."""
    name = "test-lenet-tiny"
    if name not in list_presets():
        base = get_preset("anact-lenet5")
        scale = Scale(
            "tiny",
            seeds=2,
            minutes=0.2,
            config={"data.name": "mnist", "train.epochs": 2, "data.batch_size": 32},
            analysis={"threshold": 0.3, "columns": [1, 2]},
            notes="a test",
        )
        variants = {v: base.variants[v] for v in ("relu", "nrelu")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"tiny": scale}))
    return name


@pytest.fixture(scope="session")
def synth_preset() -> str:
    """anact-lenet5's analysis on four activations, 3 seeds, 4 epochs: for synthetic result stores."""
    name = "test-lenet-synth"
    if name not in list_presets():
        base = get_preset("anact-lenet5")
        scale = Scale(
            "s",
            seeds=3,
            minutes=1,
            config={"train.epochs": 4},
            analysis={"threshold": 0.9, "columns": [1, 2, 4]},
        )
        variants = {v: base.variants[v] for v in ("relu", "nrelu", "swish", "nswish")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"s": scale}))
    return name


# variant -> per seed: accuracy per epoch (None: the run failed), constant Score, last |E W| of two weights.
# threshold 0.9, columns [1, 2, 4], 4 epochs; relu seed 2 diverges at epoch 3.
RUNS = {
    "relu": [([0.5, 0.6, 0.7, 0.8], 3.0, 0.02), ([0.8, 0.85, 0.9, 0.91], 2.0, 0.03), ([0.6, 0.7], 4.0, 0.05)],
    "nrelu": [
        ([0.91, 0.92, 0.93, 0.94], 0.5, 0.01),
        ([0.9, 0.93, 0.94, 0.95], 0.6, 0.002),
        ([0.85, 0.91, 0.92, 0.92], 0.7, 0.004),
    ],
    "swish": [([0.8, 0.9, 0.95, 0.96], 2.5, 0.02), ([0.85, 0.88, 0.9, 0.9], 2.0, 0.04), (None, 0, 0)],
    "nswish": [
        ([0.9, 0.9, 0.9, 0.9], 0.4, 0.01),
        ([0.7, 0.95, 0.96, 0.97], 0.45, 0.02),
        ([0.89, 0.899, 0.9, 0.91], 1.0, 0.03),
    ],
}
FIRST = {"relu": [math.inf, 3, math.inf], "nrelu": [1, 1, 2], "swish": [2, 3], "nswish": [1, 2, 3]}


@pytest.fixture
def synth_store(tmp_path, synth_preset):
    """A results store holding RUNS for the synth preset, one failed run and one stale run."""
    preset = get_preset(synth_preset)
    path = tmp_path / "results" / "normact.sqlite"
    db = ResultsStore(path)
    for cfg in preset.sweep("s").configs():
        acc, score, w = RUNS[cfg.variant][cfg.train.seed]
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        if acc is None:
            db.finish_run(run_id, "failed", error="Traceback: boom")
            continue
        for epoch, a in enumerate(acc, 1):
            means = {"weight_mean/a.weight": -w * epoch / len(acc), "weight_mean/b.weight": 0.0}
            db.log_epoch(run_id, epoch, {"test_acc": a, "score": score, "time": 1.5, **means})
        if len(acc) < cfg.train.epochs:
            db.finish_run(run_id, "diverged", diverged_epoch=len(acc) + 1)
        else:
            db.finish_run(run_id, "finished")
    # a run of an older version of the preset (another config hash) must not be counted
    stale = db.start_run(study=preset.name, variant="nrelu", seed=0, config_hash="0" * 64, config={})
    db.log_epoch(stale, 1, {"test_acc": 0.1})
    db.finish_run(stale, "finished")
    return path
