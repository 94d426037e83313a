"""Train one run: seeded, checkpointed each epoch, evaluated each epoch, stopped on divergence.

``train(config)`` builds the data, model, optimiser and schedule from the config, trains the task of
``train.task`` (cross-entropy of classes, ``normact.train.classification``, or of target tokens,
``normact.train.translation``; each epoch is one path over the task's ``step``) for ``train.epochs``
epochs and returns a ``RunResult``. The probes of ``train.probes`` also measure the initial model, stored
as epoch 0. After every
epoch it evaluates on the test set, calls the callbacks, writes the metrics to the results store (if
given) and saves an atomic checkpoint; ``resume=True`` continues from that checkpoint and on CPU reproduces an
uninterrupted run bit for bit (see ``docs/training.md`` for what that covers).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from normact.functional.normalized import NonFiniteStatistics
from normact.imports import call_object, is_object_spec
from normact.train.batches import Batches, Transform
from normact.train.checkpoint import (
    CheckpointError,
    check_writable,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from normact.train.classification import ClassificationTask, Step
from normact.train.config import Config, ConfigError, DataConfig, ModelConfig, config_hash, config_to_dict
from normact.train.device import autocast, device_name, resolve_device
from normact.train.distributed import (
    World,
    check_batch,
    join,
    local_device,
    reduce_sum,
    world_from_env,
    wrap_model,
)
from normact.train.loggers import RunLoggers
from normact.train.optim import build_optimizer, build_scheduler, clip_gradients
from normact.train.store import DONE_STATUSES, ResultsStore

log = logging.getLogger("normact.train")

BUILTIN_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "test_acc5", "lr", "time")


class Splits(Protocol):
    """What the runner needs of a dataset (``normact.data.DataSplits`` provides it)."""

    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]


@runtime_checkable
class Callback(Protocol):
    """A per-epoch measurement; its metrics are stored with the epoch's own.

    ``on_epoch_end`` is called after evaluation, with the model in eval mode and ``batches`` the first
    ``train.probe_samples`` test samples as ``(x, y)`` batches on the model's device (iterate it as often
    as needed). It returns ``{name: value}``; names may contain ``/`` (e.g. ``weight_mean/fc1``) and must
    not clash with the built-in metrics. The runner restores the model's train/eval mode and the global
    RNG states afterwards; a callback must not change parameters, buffers or optimiser state.
    """

    def on_epoch_end(self, model: nn.Module, epoch: int, batches: Batches) -> Mapping[str, float]: ...


@runtime_checkable
class StepCallback(Protocol):
    """An optional per-step hook of a callback, for signals that change within an epoch.

    A callback that also has ``on_train_step`` is called after every training step's backward pass
    and gradient clipping, before the optimiser step: ``model`` holds the weights the step's gradients
    were computed at (step 1: the initial weights), ``weight.grad`` the step's gradients as the optimiser
    will use them, ``x, y`` the training batch as the model saw it (after augmentation and mixup;
    ``y`` the first labels). ``step`` counts optimiser steps from 1 over the whole run. The model is
    in eval mode and the global RNG states are restored afterwards, as for ``on_epoch_end``; the hook
    must not change parameters, gradients, buffers or optimiser state. It returns nothing: the callback
    keeps what it measured and returns it from its next ``on_epoch_end``.
    """

    def on_train_step(self, model: nn.Module, step: int, x: Tensor, y: Tensor) -> None: ...


class Task(Protocol):
    """What the loop needs of a task: ``ClassificationTask`` or ``translation.TranslationTask``."""

    model_kwargs: dict[str, Any]  # extra arguments of the model builder

    def step(self, model: nn.Module, x: Tensor, y: Tensor) -> Step: ...

    def evaluate(self, model: nn.Module, batches: Batches) -> dict[str, float]: ...


@dataclass
class RunResult:
    """The outcome of ``train``: status, per-epoch history (as stored) and the trained model."""

    status: str  # "finished" or "diverged"
    epochs_done: int
    diverged_epoch: int | None
    # one {metric: value} per epoch, with an "epoch" entry; epoch 0 (the initial model's probes) first
    # when train.probes are set
    history: list[dict[str, float]]
    model: nn.Module
    config_hash: str
    run_id: int | None = None
    checkpoint: Path | None = None
    divergence: str | None = None  # what became non-finite, where and at which step (when diverged)
    runtime: dict[str, Any] = field(default_factory=dict)  # the store's RUNTIME_COLUMNS of the run


class RunExistsError(ValueError):
    """The store holds this run's finished or diverged result, which a new start would replace."""


class _Diverged(Exception):
    """The run became non-finite: what, the optimiser step (when known), the epoch's metrics so far."""

    def __init__(self, what: str, step: int | None, metrics: dict[str, float]) -> None:
        super().__init__(what)
        self.what, self.step, self.metrics = what, step, metrics


def load_data(cfg: DataConfig) -> Splits:
    """Load the dataset named in ``cfg`` through ``normact.data.load_dataset``, or a user's function.

    ``data.name: my_pkg.data:load`` calls ``load(**data.options)`` (with ``root=data.root`` when it
    takes ``root`` or ``data.root`` is set), which returns splits with ``train``, ``test``,
    ``num_classes`` and ``input_shape``.
    """
    if is_object_spec(cfg.name):
        root = {"root": cfg.root}
        required, offered = (root, {}) if cfg.root is not None else ({}, root)
        data = call_object(cfg.name, "data.name", {**cfg.options, **required}, offered)
        missing = [a for a in ("train", "test", "num_classes", "input_shape") if not hasattr(data, a)]
        if missing:
            raise ValueError(
                f"data.name: {cfg.name}() returned {type(data).__name__}, not splits with train, test, "
                f"num_classes and input_shape (missing {missing}; see normact.data.DataSplits)"
            )
        return data
    from normact.data import load_dataset

    return load_dataset(cfg.name, root=cfg.root, **cfg.options)


def build_model(cfg: ModelConfig, num_classes: int, input_shape: Sequence[int], **extra: Any) -> nn.Module:
    """The model named in ``cfg``, sized for the dataset; ``cfg.kwargs`` win over ``extra``.

    A registered name gets every argument; a user's ``module:function`` gets ``model.act``,
    ``model.init`` (when set) and ``model.kwargs``, plus ``num_classes``, ``input_shape`` and the
    task's extras where its signature takes them.
    """
    from normact.models import get_model_builder

    sizes: dict[str, Any] = {"num_classes": num_classes, "input_shape": tuple(input_shape), **extra}
    kwargs: dict[str, Any] = dict(cfg.kwargs)
    if cfg.act is not None:
        kwargs["act"] = cfg.act
    if cfg.init is not None:
        kwargs["init"] = cfg.init
    if not is_object_spec(cfg.name):
        return _configured("model", f"model {cfg.name!r}", get_model_builder(cfg.name), {**sizes, **kwargs})
    model = call_object(cfg.name, "model.name", kwargs, offered=sizes)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model.name: {cfg.name}() returned {type(model).__name__}, not an nn.Module")
    return model


def checkpoint_path(config: Config) -> Path | None:
    """``<out_dir>/<study>/<variant>/seed<seed>-<hash[:12]>/checkpoint.pt``, or None without out_dir."""
    if config.train.out_dir is None:
        return None
    run_dir = f"seed{config.train.seed}-{config_hash(config)[:12]}"
    return Path(config.train.out_dir) / config.study / config.variant / run_dir / "checkpoint.pt"


def stream_seed(seed: int, stream: int) -> int:
    """An independent 63-bit seed for numbered stream ``stream`` of run seed ``seed``."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0] >> 1)


def train(
    config: Config,
    store: ResultsStore | None = None,
    callbacks: Sequence[Callback] = (),
    *,
    model: nn.Module | None = None,
    data: Splits | None = None,
    resume: bool = False,
    rerun: bool = False,
) -> RunResult:
    """Train the run described by ``config``.

    Args:
        config: the run.
        store: results store receiving the run's status and per-epoch metrics.
        callbacks: per-epoch measurements (see ``Callback``); those named in ``train.probes`` are
            added after them, and also measure the initial model, stored as epoch 0.
        model: the model to train (moved to ``train.device``), in place of building ``config.model``;
            the config is still what names, hashes and stores the run, so give such runs their own
            ``study``/``variant``.
        data: the dataset; None loads ``config.data`` through ``normact.data.load_dataset``.
        resume: continue from the run's checkpoint when there is one (a fresh start otherwise).
        rerun: replace a finished or diverged result of this run in ``store``. Without it such a
            result is never touched: ``resume`` returns it as it is (from the checkpoint of its last
            epoch), and a fresh start raises ``RunExistsError``.

    Returns:
        The run's result. A non-finite training loss, non-finite batch statistics in a normalized
        activation (``NonFiniteStatistics``), a non-finite evaluation loss or parameter stops the run
        with status ``"diverged"`` at that epoch, described (what, which layer, which step) in
        ``divergence`` and in the store's ``error``; the metrics of earlier epochs are kept, and the
        diverging epoch's training metrics up to the divergence are stored as an incomplete epoch.
        Any other exception marks the run ``failed`` in the store (with its traceback) and is re-raised.

    Under torchrun (``WORLD_SIZE`` > 1) every process calls ``train`` with the same config; they train
    one run with ``DistributedDataParallel`` (``normact.train.distributed``) and only rank 0 writes
    ``store``, the checkpoints and the progress display.
    """
    probes: list[Callback] = []
    if config.train.probes:
        from normact.probes.callbacks import build_probe_callbacks

        probes = list(build_probe_callbacks(config.train.probes))
    callbacks = [*callbacks, *probes]
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callback {cb!r} has no on_epoch_end(model, epoch, batches) method")
    world = world_from_env()
    check_batch(world, config.data.batch_size)
    device = local_device(world, resolve_device(config.train.device, config.train.precision))
    store = store if world.main else None
    run_hash = config_hash(config)
    done = None
    if store is not None and not rerun:
        done = store.find_run(config.study, config.variant, config.train.seed, run_hash)
        done = done if done is not None and done.status in DONE_STATUSES else None
    ckpt_path = checkpoint_path(config)
    state = None
    if resume:
        if ckpt_path is None:
            raise ValueError("resume needs checkpoints: set train.out_dir")
        if ckpt_path.is_file():
            state = load_checkpoint(ckpt_path)
            if state["config_hash"] != run_hash:
                raise CheckpointError(
                    f"checkpoint {str(ckpt_path)!r} belongs to another config; delete it to start afresh"
                )
    if done is not None and (state is None or state["epoch"] != done.epochs_done):
        raise RunExistsError(
            f"run {config.study}/{config.variant}/seed{config.train.seed} is already {done.status} in "
            f"{str(store.path)!r} (run id {done.id}); --rerun replaces that result"
        )
    if ckpt_path is not None and world.main:
        check_writable(ckpt_path.parent)
    loggers = RunLoggers(
        config.train.loggers if world.main else (),  # rank 0 alone reports
        None if ckpt_path is None else ckpt_path.parent,
        None if config.train.out_dir is None else Path(config.train.out_dir),
        config.study,
        f"{config.variant}/seed{config.train.seed}",
        first_epoch=state["epoch"] + 1 if state else 1,
    )
    join(world, device)
    with _runtime(config):
        args = (config, device, world, run_hash, callbacks, probes, data, ckpt_path, state)
        run = _Run(*args, model, loggers.log_epoch)  # a bad config fails here, before the store is touched
        if done is not None:  # resumed at its end: nothing to do, nothing written
            run.run_id = done.id
            result = run._result(
                done.status, done.diverged_epoch, done.error if done.diverged_epoch else None
            )
            result.runtime = runtime_info(config, device, world.size)
            return result
        run_id = None
        if store is not None:
            run_id = store.start_run(
                study=config.study,
                variant=config.variant,
                seed=config.train.seed,
                config_hash=run_hash,
                config=config_to_dict(config),
                resume_epoch=state["epoch"] if state else 0,
                runtime=runtime_info(config, device, world.size),
            )
            for entry in state["history"] if state else ():
                store.log_epoch(run_id, entry["epoch"], {k: v for k, v in entry.items() if k != "epoch"})
            run.store, run.run_id = store, run_id
        alive = store.keep_alive(run_id) if store is not None else nullcontext()
        try:
            with alive:
                loggers.start(config_to_dict(config))
                result = run.fit()
                result.runtime = runtime_info(config, device, world.size)
        except BaseException:
            loggers.finish("failed", error=traceback.format_exc())
            if store is not None:
                store.finish_run(run_id, "failed", error=traceback.format_exc())
            raise
    loggers.finish(result.status, result.history)
    if store is not None:
        store.finish_run(run_id, result.status, diverged_epoch=result.diverged_epoch, error=result.divergence)
    return result


def runtime_info(config: Config, device: torch.device, world_size: int = 1) -> dict[str, Any]:
    """What a run computes on, as the store's ``RUNTIME_COLUMNS``."""
    return {
        "device": str(device),
        "device_name": device_name(device),
        "precision": config.train.precision,
        "world_size": world_size,
        "torch_version": torch.__version__,
    }


@contextmanager
def _runtime(config: Config) -> Iterator[None]:
    """Thread count and deterministic algorithms for the run, restored afterwards.

    Deterministic mode leaves uninitialized memory unfilled: torch's default fills every new tensor
    with NaN under deterministic algorithms, which costs ~6 % of a small model's CPU epoch and changes
    no result of an op that writes its whole output.
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    if config.train.threads is not None:
        torch.set_num_threads(config.train.threads)
    if config.train.deterministic and config.train.device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(config.train.deterministic, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill


@contextmanager
def _isolated(model: nn.Module) -> Iterator[None]:
    """Eval mode and untouched global RNG for code that measures the model."""
    rng, training = rng_state(), model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)
        set_rng_state(rng)


class _Run:
    """The state of one run between ``train`` entering and leaving (``store`` set once it is built)."""

    def __init__(
        self,
        config: Config,
        device: torch.device,
        world: World,
        run_hash: str,
        callbacks: Sequence[Callback],
        probes: Sequence[Callback],
        data: Splits | None,
        ckpt_path: Path | None,
        state: dict[str, Any] | None,
        model: nn.Module | None = None,
        on_epoch: Callable[[int, Mapping[str, float]], None] | None = None,
    ) -> None:
        self.config, self.run_hash, self.callbacks, self.probes = config, run_hash, callbacks, probes
        self.store: ResultsStore | None = None
        self.run_id: int | None = None
        self.ckpt_path = ckpt_path
        cfg, seed = config.train, config.train.seed
        self.device, self.world = device, world
        data = load_data(config.data) if data is None else data
        self.data_gen = torch.Generator().manual_seed(stream_seed(seed, 1))
        self.aug_gen = torch.Generator().manual_seed(stream_seed(seed, 2))
        dcfg = config.data
        self.task = _build_task(config, data, self.aug_gen, world)
        normalize = _build_normalize(data) if dcfg.normalize else []
        if cfg.channels_last:
            normalize.append(_channels_last)
        self.train_batches = Batches(
            data.train,
            dcfg.batch_size,
            generator=self.data_gen,
            drop_last=dcfg.drop_last,
            device=device,
            transforms=_build_transforms(dcfg.transforms) + normalize,
            transform_generator=self.aug_gen,
            workers=dcfg.workers,
            shard=(world.rank, world.size),
        )
        test = {"device": device, "transforms": normalize, "workers": dcfg.workers}
        # each rank evaluates batches rank, rank + world, ... and the task adds up the ranks' shares
        self.test_batches = Batches(data.test, dcfg.eval_batch_size, every=(world.rank, world.size), **test)
        self.probe_batches = Batches(data.test, dcfg.eval_batch_size, limit=cfg.probe_samples, **test)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002 (seed the global state user code draws from)
        random.seed(seed)
        if model is None:
            model = build_model(config.model, data.num_classes, data.input_shape, **self.task.model_kwargs)
        self.model = model.to(device)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # what training calls (DDP over the ranks, compiled); parameters, buffers and checkpoints are
        # self.model's, which evaluation and the callbacks call
        forward = wrap_model(world, self.model, device, cfg.sync_bn)
        self.forward: nn.Module = torch.compile(forward) if cfg.compile else forward
        self.precision = cfg.precision
        self.scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" else None
        self.optimizer = build_optimizer(self.model, config.optim)
        self.scheduler = build_scheduler(
            self.optimizer, config.schedule, config.optim.lr, cfg.epochs, len(self.train_batches)
        )
        self.step_callbacks = [cb for cb in callbacks if isinstance(cb, StepCallback)]
        mode = cfg.progress
        self.progress = ("bar" if sys.stderr.isatty() else "log") if mode == "auto" else mode
        if not world.main:
            self.progress = "none"
        self.history: list[dict[str, float]] = []
        self.on_epoch = on_epoch  # the loggers' sink of each complete epoch's metrics
        self.bar: Any = None  # the run's progress bar while fit runs (progress: bar)
        self.start = 1
        if state is not None:
            self._restore(state)
            self.start = state["epoch"] + 1

    def fit(self) -> RunResult:
        start = self.start
        if start == 1 and self.probes:  # the initial model, as epoch 0
            self._record(0, self._measure(0, {}, self.probes))
        with self._progress_bar(start):
            for epoch in range(start, self.config.train.epochs + 1):
                tic = time.perf_counter()
                try:
                    self._epoch(epoch, tic)
                except _Diverged as d:
                    return self._diverged(epoch, d, time.perf_counter() - tic)
        return self._result("finished", None)

    @contextmanager
    def _progress_bar(self, start: int) -> Iterator[None]:
        """One bar over every training step of the run (``progress: bar``), with its ETA; or log lines.

        Log lines are printed to stderr when nothing else handles them (e.g. from the Python API
        without logging configured); with a bar they are written above it.
        """
        steps, epochs = len(self.train_batches), self.config.train.epochs
        if self.progress == "log" and not log.hasHandlers():
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            level = log.level
            log.addHandler(handler)
            log.setLevel(min(log.getEffectiveLevel(), logging.INFO))
            try:
                yield
            finally:
                log.removeHandler(handler)
                log.setLevel(level)
            return
        if self.progress != "bar":
            yield
            return
        self.bar = tqdm(total=epochs * steps, initial=(start - 1) * steps, desc=self._name(), unit="step",
                        file=sys.stderr, dynamic_ncols=True)  # fmt: skip
        try:
            with logging_redirect_tqdm():
                yield
        finally:
            self.bar.close()

    def _diverged(self, epoch: int, d: _Diverged, seconds: float) -> RunResult:
        """Keep the diverging epoch's metrics so far (an incomplete epoch) and describe the divergence."""
        metrics = {**d.metrics, "time": seconds}
        self.history.append({"epoch": epoch, **metrics})
        if self.store is not None:
            self.store.log_epoch(self.run_id, epoch, metrics, complete=False)
        step = "" if d.step is None else f", step {d.step}"
        text = f"diverged at epoch {epoch}{step}: {d.what}"
        log.warning("%s: %s", self._name(), text)
        return self._result("diverged", epoch, text)

    def _result(self, status: str, diverged_epoch: int | None, divergence: str | None = None) -> RunResult:
        return RunResult(
            status=status,
            epochs_done=(
                sum(entry["epoch"] > 0 for entry in self.history)
                if diverged_epoch is None
                else diverged_epoch - 1
            ),
            diverged_epoch=diverged_epoch,
            history=self.history,
            model=self.model,
            config_hash=self.run_hash,
            run_id=self.run_id,
            checkpoint=self.ckpt_path,
            divergence=divergence,
        )

    def _name(self) -> str:
        c = self.config
        return f"{c.study}/{c.variant}/seed{c.train.seed}"

    def _epoch(self, epoch: int, tic: float) -> None:
        train_metrics = self._train_epoch(epoch)
        with _isolated(self.model), autocast(self.device, self.precision):
            evaluation = self.task.evaluate(self.model, self.test_batches)
        test_loss, test_acc = evaluation.pop("test_loss"), evaluation.pop("test_acc")
        finite = [torch.isfinite(p).all() for p in self.model.parameters()]
        if finite and not bool(torch.stack(finite).all()):  # one device sync
            raise _Diverged("non-finite parameters at the end of the epoch", None, train_metrics)
        if not math.isfinite(test_loss):
            raise _Diverged("non-finite test loss", None, train_metrics)
        metrics = {
            **train_metrics,
            "test_loss": test_loss,
            "test_acc": test_acc,
            **evaluation,
        }
        self._measure(epoch, metrics, self.callbacks)
        metrics["time"] = time.perf_counter() - tic
        self._record(epoch, metrics)
        if self.ckpt_path is not None and self.world.main:
            save_checkpoint(self.ckpt_path, self._state(epoch))
        if self.progress != "none":
            log.info(
                "%s epoch %d/%d: train_loss %.4f train_acc %.4f test_loss %.4f test_acc %.4f lr %.3g (%.1fs)",
                self._name(), epoch, self.config.train.epochs, metrics["train_loss"], metrics["train_acc"],
                test_loss, test_acc, metrics["lr"], metrics["time"],
            )  # fmt: skip

    def _measure(
        self, epoch: int, metrics: dict[str, float], callbacks: Sequence[Callback]
    ) -> dict[str, float]:
        """``metrics`` with what ``callbacks`` measure of the model after ``epoch`` added."""
        for cb in callbacks:
            with _isolated(self.model), autocast(self.device, self.precision):
                extra = dict(cb.on_epoch_end(self.model, epoch, self.probe_batches))
            clash = sorted(set(extra) & (set(metrics) | set(BUILTIN_METRICS)))
            if clash:
                raise ValueError(f"callback {cb!r} returned metric names {clash} that are already taken")
            metrics.update({k: float(v) for k, v in extra.items()})
        return metrics

    def _record(self, epoch: int, metrics: dict[str, float]) -> None:
        self.history.append({"epoch": epoch, **metrics})
        if self.store is not None:
            self.store.log_epoch(self.run_id, epoch, metrics)
        if self.on_epoch is not None:
            self.on_epoch(epoch, metrics)

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        """``train_loss``, ``train_acc`` and ``lr``, the learning rate of the last step (of the first group).

        Each step's loss, hits and size stay on the device so a step never waits for the device; they
        are read at the end of the epoch, where a non-finite loss is found (the steps after it have run).
        Non-finite batch statistics in a normalized activation end the epoch at once. Either raises
        ``_Diverged`` with the step and the metrics of the steps before it.
        """
        model, opt, optim_cfg = self.model, self.optimizer, self.config.optim
        model.train()
        first_step = (epoch - 1) * len(self.train_batches)
        record = torch.empty(3, len(self.train_batches), dtype=torch.float64, device=self.device)
        losses, hit_counts, sizes = record  # sizes: samples, or target tokens for translation
        steps, lr, failure = 0, opt.param_groups[0]["lr"], None
        bar = self.bar
        if bar is not None:
            bar.set_description(f"{self._name()} epoch {epoch}/{self.config.train.epochs}", refresh=False)
        try:
            for i, (x, y) in enumerate(self.train_batches):
                opt.zero_grad(set_to_none=True)
                with autocast(self.device, self.precision):
                    loss, hits, n, x = self.task.step(self.forward, x, y)
                if self.scaler is None:
                    loss.backward()
                else:  # fp16: a scaled backward, gradients unscaled before clipping
                    self.scaler.scale(loss).backward()
                    self.scaler.unscale_(opt)
                clip_gradients(model.parameters(), optim_cfg.clip_grad_value, optim_cfg.clip_grad_norm)
                for cb in self.step_callbacks:
                    with _isolated(model), autocast(self.device, self.precision):
                        cb.on_train_step(model, first_step + i + 1, x, y)
                lr = opt.param_groups[0]["lr"]
                if self.scaler is None:
                    opt.step()
                else:  # skips the step when the scaled gradients overflowed, and adapts the scale
                    self.scaler.step(opt)
                    self.scaler.update()
                self.scheduler.step()
                losses[i], hit_counts[i], sizes[i] = loss.detach(), hits, n
                steps = i + 1
                if bar is not None:
                    bar.update()
                    if bar.n % 20 == 0:
                        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        except NonFiniteStatistics as err:
            failure = f"non-finite batch statistics in {_raising_layer(err, model)}"
        if self.world.distributed:  # every rank's sums: the epoch's metrics over the global batches
            record[0, :steps] *= record[2, :steps]
            reduce_sum(self.world, record[:, :steps])
            record[0, :steps] /= record[2, :steps]
        losses, hit_counts, sizes = record[:, :steps].cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        n_finite = int(bad[0]) if len(bad) else steps
        count = sizes[:n_finite].sum().item()
        metrics = {"lr": lr}
        if count:
            metrics["train_loss"] = (losses[:n_finite] * sizes[:n_finite]).sum().item() / count
            metrics["train_acc"] = hit_counts[:n_finite].sum().item() / count
        if n_finite < steps:
            raise _Diverged("non-finite training loss", first_step + n_finite + 1, metrics)
        if failure is not None:
            raise _Diverged(failure, first_step + steps + 1, metrics)
        return metrics

    def _state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "config_hash": self.run_hash,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "generators": {"data": self.data_gen.get_state(), "augment": self.aug_gen.get_state()},
            "history": self.history,
            **({"scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler is not None:
                self.scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
            self.data_gen.set_state(state["generators"]["data"])
            self.aug_gen.set_state(state["generators"]["augment"])
            self.history = [dict(entry) for entry in state["history"]]
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            what = f"no entry {err}" if isinstance(err, KeyError) else " ".join(str(err).split())[:200]
            path = str(self.ckpt_path)
            raise CheckpointError(
                f"checkpoint {path!r} does not fit this run ({what}); delete it to start afresh"
            ) from None
        log.info("%s: resumed after epoch %d from %s", self._name(), state["epoch"], self.ckpt_path)


def _raising_layer(err: BaseException, model: nn.Module) -> str:
    """``layer 'name' (Class)``: the innermost submodule of ``model`` whose code is on ``err``'s traceback."""
    names = {id(m): name for name, m in model.named_modules()}
    found = None
    tb = err.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_locals.get("self")
        if isinstance(module, nn.Module) and id(module) in names:
            found = module
        tb = tb.tb_next
    if found is None:
        return "a layer of the model"
    return f"layer {names[id(found)] or '(the model)'!r} ({type(found).__name__})"


def _build_transforms(specs: Sequence[Mapping[str, Any]]) -> list[Transform]:
    """Batch transforms ``t(x, generator)`` from ``[{name: <class of normact.data.transforms>, **kw}]``."""
    if not specs:
        return []
    from normact.data import transforms as module

    valid = sorted(
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and obj.__module__ == module.__name__ and name != "Compose"
    )
    out = []
    for i, spec in enumerate(specs):
        name = spec.get("name")
        if name not in valid:
            raise ValueError(f"data.transforms[{i}]: unknown transform {name!r}; choose from {valid}")
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        out.append(_configured(f"data.transforms[{i}]", name, getattr(module, name), kwargs))
    return out


def _configured(key: str, what: str, build: Any, kwargs: Mapping[str, Any]) -> Any:
    """``build(**kwargs)`` for config section ``key``; a bad argument is a ``ConfigError`` naming it."""
    params = inspect.signature(build).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise ConfigError(
                f"config {key!r}: {what} takes no argument {unknown[0]!r}; its arguments: {', '.join(params)}"
            )
    try:
        return build(**kwargs)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ConfigError(f"config {key!r}: {what} cannot be built: {' '.join(str(err).split())}") from None


def _channels_last(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """A 4-d batch in channels-last memory order (``train.channels_last``); other batches as they are."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _build_normalize(data: Splits) -> list[Transform]:
    """``Normalize`` with the dataset's per-channel statistics, or nothing when it has none."""
    mean, std = getattr(data, "mean", None), getattr(data, "std", None)
    if mean is None or std is None:
        return []
    from normact.data.transforms import Normalize

    return [Normalize(mean, std)]


def _build_task(config: Config, data: Splits, generator: torch.Generator, world: World) -> Task:
    """The task object of ``train.task``: mixup draws from ``generator``, evaluation split over ``world``."""
    if config.train.task == "classification":
        return ClassificationTask(config.train.label_smoothing, config.data.mixup_alpha, generator, world)
    from normact.train.translation import TranslationTask

    cfg = config.train
    return TranslationTask(data, cfg.label_smoothing, cfg.beam, cfg.length_penalty, world)
