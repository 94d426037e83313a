"""Sweeps: a (variant, seed) grid of runs sharing a results store, resumable and run by worker processes.

A sweep file is YAML::

    study: anact-mlp
    seeds: [0, 1, 2]
    config: base.yaml          # a run config: a path (relative to this file) or an inline mapping
    variants:                  # name -> overrides of the base config (mapping or list of key=value)
      relu: {model.act: relu}
      selu: [model.act=selu, model.init=lecun_normal]

Runs whose key (study, variant, seed, config hash) is already ``finished`` or ``diverged`` in the store
are skipped, so re-running an interrupted sweep does only what is missing; an interrupted or failed run
is retried and continues from its last checkpoint. A run that raises is recorded as ``failed`` with its
traceback and the sweep goes on. With ``nproc`` > 1 each run is one torchrun job of ``nproc`` processes
(``normact train`` under ``torch.distributed.run``, DistributedDataParallel), the runs one after another.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from normact.imports import import_modules
from normact.train.config import (
    Config,
    ConfigError,
    config_hash,
    config_to_dict,
    load_config,
    parse_override,
    read_yaml,
    with_overrides,
)
from normact.train.loop import Callback, Splits, load_data, train
from normact.train.store import DEFAULT_STORE, DONE_STATUSES, ResultsStore, RunRecord

log = logging.getLogger("normact.train")

DataFn = Callable[[Any], Splits]
CallbacksFn = Callable[[Config], Sequence[Callback]]


@dataclass
class Sweep:
    """A grid of runs: every variant (named overrides of ``base``) times every seed."""

    study: str
    base: Config
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})
    seeds: list[int] = field(default_factory=lambda: [0])

    def configs(self) -> list[Config]:
        """The run configs, variant by variant, seed by seed (all validated before anything runs)."""
        out = []
        for name, overrides in self.variants.items():
            variant = with_overrides(self.base, overrides)
            for seed in self.seeds:
                out.append(
                    with_overrides(variant, {"study": self.study, "variant": name, "train.seed": seed})
                )
        return out


@dataclass(frozen=True)
class SweepItem:
    """What happened to one run of a sweep: ``skipped`` (already done), or the run's final status.

    ``error`` holds a failed run's traceback or a diverged run's description.
    """

    variant: str
    seed: int
    status: str
    run_id: int | None = None
    error: str | None = None


_SWEEP_KEYS = ("study", "seeds", "config", "variants")


def load_sweep(source: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()) -> Sweep:
    """Read a sweep file (or mapping); ``overrides`` (``key=value``) apply to the base config."""
    folder = Path(".")
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        folder = Path(source).parent
        raw = read_yaml(source, "sweep file")
    unknown = [k for k in raw if k not in _SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"unknown sweep key {unknown[0]!r}; valid keys: {', '.join(_SWEEP_KEYS)}")
    base = raw.get("config")
    if isinstance(base, str):
        base = folder / base
    config = load_config(base, overrides)
    seeds = raw.get("seeds", [config.train.seed])
    if isinstance(seeds, int):
        seeds = [seeds]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"sweep key 'seeds' expects a list of integers, got {seeds!r}")
    specs = raw.get("variants") or {"default": None}
    if not isinstance(specs, Mapping):
        raise ConfigError(
            f"sweep key 'variants' expects a mapping of name -> overrides (e.g. relu: {{model.act: relu}}), "
            f"got {specs!r}"
        )
    variants: dict[str, dict[str, Any]] = {}
    for name, spec in specs.items():
        if spec is None:
            variants[str(name)] = {}
        elif isinstance(spec, Mapping):
            variants[str(name)] = dict(spec)
        elif isinstance(spec, list) and all(isinstance(s, str) for s in spec):
            variants[str(name)] = dict(parse_override(item) for item in spec)
        else:
            raise ConfigError(f"variant {name!r} must be a mapping or a list of key=value, got {spec!r}")
    study = raw.get("study", config.study)
    if not isinstance(study, str):
        raise ConfigError(f"sweep key 'study' expects a string, got {study!r}")
    sweep = Sweep(study=study, base=config, variants=variants, seeds=seeds)
    sweep.configs()  # validate every variant now
    return sweep


def run_sweep(
    sweep: Sweep,
    store: str | Path = DEFAULT_STORE,
    *,
    jobs: int = 1,
    data_fn: DataFn = load_data,
    callbacks_fn: CallbacksFn | None = None,
    engine: Literal["local", "ray"] = "local",
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    checkpoint_dir: str | Path | None = None,
    imports: Sequence[str] = (),
    nproc: int = 1,
) -> list[SweepItem]:
    """Run every run of ``sweep`` not yet finished or diverged in the store at ``store``.

    Args:
        sweep: the grid.
        store: path of the SQLite results store.
        jobs: worker processes of the local engine; 1 runs everything in this process.
        data_fn: ``data_fn(config.data) -> Splits``; a module-level function when ``jobs > 1`` or on Ray.
        callbacks_fn: ``callbacks_fn(config) -> callbacks`` for each run; module-level when ``jobs > 1``
            or on Ray.
        engine: ``local`` (this machine's processes) or ``ray`` (one Ray task per run,
            ``normact.train.ray_engine``).
        address: the Ray cluster (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``); None starts a local
            instance unless this process is connected already.
        cpus_per_run, gpus_per_run: the resources of each run's Ray task.
        checkpoint_dir: ``train.out_dir`` of every run (the checkpoints; shared storage on a cluster).
        imports: modules to import first, in this process and in every local worker (e.g. ones that
            register models); not sent to Ray tasks.
        nproc: processes per run on the local engine: above 1 each run is a torchrun job of ``nproc``
            processes on this machine (one per GPU with ``train.device=cuda``), one run at a time, with
            the config's data and probes (no ``data_fn`` or ``callbacks_fn``).

    Returns:
        One ``SweepItem`` per run, in grid order.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    if nproc > 1:
        if engine != "local" or jobs > 1:
            raise ValueError(
                f"--nproc {nproc} trains one run at a time on {nproc} processes of this machine: it goes "
                "with --engine local and --jobs 1"
            )
        if data_fn is not load_data or callbacks_fn is not None:
            raise ValueError(
                "--nproc runs each run with `normact train` under torchrun, from its config alone: a custom "
                "data_fn or callbacks_fn cannot go with it (name them in the config: data.name, train.probes)"
            )
    if imports and engine == "ray":
        raise ValueError(
            "--import is not sent to Ray tasks; name your code in the config (model.name: "
            "my_pkg.models:build), which each task imports"
        )
    import_modules(imports)
    configs = sweep.configs()
    if checkpoint_dir is not None:  # out_dir is not hashed: the runs keep their keys
        configs = [with_overrides(c, {"train.out_dir": str(checkpoint_dir)}) for c in configs]
    items: list[SweepItem | None] = [None] * len(configs)
    todo = []
    with ResultsStore(store) as results:
        for i, cfg in enumerate(configs):
            done = results.find_run(cfg.study, cfg.variant, cfg.train.seed, config_hash(cfg))
            if done is not None and done.status in DONE_STATUSES:
                items[i] = SweepItem(cfg.variant, cfg.train.seed, "skipped", done.id)
            else:
                todo.append(i)
    log.info("sweep %s: %d runs, %d done, %d to run with %d job(s)", sweep.study, len(configs),
             len(configs) - len(todo), len(todo), jobs)  # fmt: skip
    done = len(configs) - len(todo)

    def report(i: int, item: SweepItem) -> None:
        nonlocal done
        items[i], done = item, done + 1
        log.info("[%d/%d] %s/%s/seed%d: %s", done, len(configs), sweep.study, item.variant, item.seed,
                 item.status)  # fmt: skip

    if engine == "ray":
        from normact.train.ray_engine import run_on_ray

        def settle(k: int, status: str, run_id: int | None, error: str | None) -> None:
            cfg = configs[todo[k]]
            report(todo[k], SweepItem(cfg.variant, cfg.train.seed, status, run_id, error))

        with ResultsStore(store) as results:
            run_on_ray([_for_task(configs[i]) for i in todo], results, data_fn, callbacks_fn, settle,
                       address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)  # fmt: skip
    elif nproc > 1:
        for i in todo:
            report(i, _run_torchrun(configs[i], str(store), nproc, imports))
    elif jobs == 1:
        for i in todo:
            report(i, _run_one(configs[i], str(store), data_fn, callbacks_fn))
        _data_cache.clear()
    else:
        # several progress bars on one terminal garble each other
        configs = [
            with_overrides(c, {"train.progress": "log"}) if c.train.progress == "auto" else c for c in configs
        ]
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")
        init_args = (threads, logging.getLogger().getEffectiveLevel(), tuple(imports))
        with ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_init_worker, initargs=init_args
        ) as pool:
            futures = {pool.submit(_run_one, configs[i], str(store), data_fn, callbacks_fn): i for i in todo}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    item = future.result()
                except BrokenProcessPool as e:
                    cfg = configs[i]
                    item = SweepItem(cfg.variant, cfg.train.seed, "failed", error=f"worker process died: {e}")
                report(i, item)
    return [item for item in items if item is not None]


def _for_task(cfg: Config) -> Config:
    """A run for a worker elsewhere: absolute checkpoint and data folders, no progress display of its own."""
    changes: dict[str, Any] = {}
    for key, value in (("train.out_dir", cfg.train.out_dir), ("data.root", cfg.data.root)):
        if value is not None:  # neither is hashed: the run keeps its key
            changes[key] = str(Path(value).resolve())
    if cfg.train.progress == "auto":
        changes["train.progress"] = "none"
    return with_overrides(cfg, changes) if changes else cfg


def _init_worker(threads: int, log_level: int, imports: Sequence[str]) -> None:
    torch.set_num_threads(threads)
    logging.basicConfig(level=log_level, format="%(message)s")
    import_modules(imports)


_data_cache: dict[str, Splits] = {}


def _load(data_fn: DataFn, cfg: Config) -> Splits:
    """Load the data once per worker for runs that share a data source (the latest source is kept)."""
    key = json.dumps(
        [getattr(data_fn, "__qualname__", repr(data_fn)), config_to_dict(cfg)["data"]], sort_keys=True
    )
    if key not in _data_cache:
        _data_cache.clear()
        _data_cache[key] = data_fn(cfg.data)
    return _data_cache[key]


def _run_one(cfg: Config, store_path: str, data_fn: DataFn, callbacks_fn: CallbacksFn | None) -> SweepItem:
    """Train one run; a failure is recorded as a ``failed`` row even when it came before training."""
    store = ResultsStore(store_path)
    try:
        callbacks = callbacks_fn(cfg) if callbacks_fn is not None else ()
        data = _load(data_fn, cfg)
        result = train(cfg, store, callbacks, data=data, resume=cfg.train.out_dir is not None)
    except Exception:
        error = traceback.format_exc()
        log.error("%s/%s/seed%d failed:\n%s", cfg.study, cfg.variant, cfg.train.seed, error)
        record = store.find_run(cfg.study, cfg.variant, cfg.train.seed, config_hash(cfg))
        if record is None:  # train failed before writing a row (an earlier attempt's row stays as it is)
            record = _record_failure(store, cfg, None, error)
        return SweepItem(cfg.variant, cfg.train.seed, "failed", record.id, error)
    finally:
        store.close()
    return SweepItem(cfg.variant, cfg.train.seed, result.status, result.run_id, result.divergence)


def _run_torchrun(cfg: Config, store_path: str, nproc: int, imports: Sequence[str]) -> SweepItem:
    """Train one run as a torchrun job of ``nproc`` processes; its rank 0 writes the store.

    The job's output passes through; a job that ends without a result in the store (it failed before
    training, or a rank died) is recorded as ``failed`` with the end of its error output.
    """
    with tempfile.TemporaryDirectory(prefix="normact-run-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(json.dumps(config_to_dict(cfg)))  # JSON is YAML
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", "normact", "train", str(path), "--store", store_path]  # fmt: skip
        if cfg.train.out_dir is not None:
            cmd.append("--resume")
        for module in imports:
            cmd += ["--import", module]
        tail: deque[str] = deque(maxlen=200)  # the ranks' errors come before torchrun's summary
        with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, errors="replace") as job:
            for line in job.stderr:  # ends when every process of the job has exited
                sys.stderr.write(line)
                tail.append(line)
        code = job.returncode
    with ResultsStore(store_path) as store:
        record = store.find_run(cfg.study, cfg.variant, cfg.train.seed, config_hash(cfg))
        if record is None or (code != 0 and record.status not in DONE_STATUSES):
            error = f"torchrun --nproc-per-node {nproc} exited with code {code}:\n{''.join(tail)}"
            record = _record_failure(store, cfg, record, error)
    error = record.error if record.status != "finished" else None
    return SweepItem(cfg.variant, cfg.train.seed, record.status, record.id, error)


def _record_failure(store: ResultsStore, cfg: Config, record: RunRecord | None, error: str) -> RunRecord:
    """Mark ``cfg``'s run ``failed`` with ``error``; ``record`` is its row, None when it never wrote one."""
    run_id = record.id if record is not None else store.start_run(
        study=cfg.study, variant=cfg.variant, seed=cfg.train.seed, config_hash=config_hash(cfg),
        config=config_to_dict(cfg),
    )  # fmt: skip
    store.finish_run(run_id, "failed", error=error)
    return store.get_run(run_id)
