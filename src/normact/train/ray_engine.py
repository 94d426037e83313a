"""Sweeps on Ray (``normact sweep ... --engine ray``): every run a Ray task, the driver alone the store.

Each run that is not done yet becomes one Ray task with ``--cpus-per-run`` CPUs and ``--gpus-per-run``
GPUs. A task trains with checkpoints (``train.out_dir``, made absolute; on several nodes it must be
shared storage) and without a results store, and returns the run's history, status and runtime; the
driver writes each returned run into the SQLite store in one transaction, so workers never open the
store (SQLite on a network filesystem is unsafe) and an interrupted driver leaves no half-written run.
A task whose worker process dies is retried by Ray (``MAX_RETRIES`` times) and resumes from the run's
last checkpoint. Ray is the optional extra ``normact[ray]``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from normact.train.config import Config, config_hash, config_to_dict

log = logging.getLogger("normact.train")

MAX_RETRIES = 3  # attempts after a worker process dies (Ray's task retries)
_LOCAL = (None, "", "local")


def import_ray() -> Any:
    """The ``ray`` module, or an error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'normact[ray]' (or pip install ray)") from None
    return ray


def connect(address: str | None, cpus_per_run: float, gpus_per_run: float) -> Any:
    """Ray, connected to the cluster at ``address`` (None: a local instance), checked for the resources.

    A connection that already exists in this process (``ray.init`` called before) is used as it is.
    """
    ray = import_ray()
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise ValueError(
            f"--cpus-per-run must be > 0 and --gpus-per-run >= 0, got {cpus_per_run}, {gpus_per_run}"
        )
    if not ray.is_initialized():
        if address not in _LOCAL and address != "auto":
            _check_answers(address)
        ray.init(address=None if address in _LOCAL else address, include_dashboard=False)
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for flag, key, wanted in (
        ("--cpus-per-run", "CPU", cpus_per_run),
        ("--gpus-per-run", "GPU", gpus_per_run),
    ):
        most = max((n.get(key, 0.0) for n in nodes), default=0.0)
        if wanted > most:
            raise ValueError(
                f"{flag} {wanted:g} is more than any node of the Ray cluster has ({key}: at most {most:g} "
                f"on one of {len(nodes)} node(s)); a run's task must fit on one node"
            )
    return ray


def _check_answers(address: str, timeout: float = 5.0) -> None:
    """Refuse, within ``timeout`` seconds, an address where nothing listens (ray.init would wait for ever)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--address must be HOST:PORT, ray://HOST:PORT or auto, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(
            f"--address {address}: no Ray cluster answers there ({e}); start one with "
            "'ray start --head' or leave --address out for a local instance"
        ) from None


def _task(cfg: Config, data_fn: Callable, callbacks_fn: Callable | None) -> dict[str, Any]:
    """One run in a Ray worker: train from its checkpoint, no store; the outcome as plain data."""
    from normact.train.loop import train
    from normact.train.sweep import _load

    try:
        callbacks = callbacks_fn(cfg) if callbacks_fn is not None else ()
        result = train(cfg, None, callbacks, data=_load(data_fn, cfg), resume=cfg.train.out_dir is not None)
    except Exception:
        return {"status": "failed", "error": traceback.format_exc(), "history": []}
    return {
        "status": result.status,
        "history": result.history,
        "diverged_epoch": result.diverged_epoch,
        "error": result.divergence,
        "runtime": result.runtime,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def run_on_ray(
    configs: Sequence[Config],
    store: Any,
    data_fn: Callable,
    callbacks_fn: Callable | None,
    report: Callable[[int, str, int | None, str | None], None],
    *,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
) -> None:
    """Run ``configs`` (index -> config) as Ray tasks; write each outcome to ``store``, then ``report`` it.

    ``report(index, status, run_id, error)`` is called once per run as it ends. Ctrl-C ends the tasks
    still running (with the Ray session, when this call started it); every run already written stays
    complete.
    """
    own_session = not import_ray().is_initialized()
    ray = connect(address, cpus_per_run, gpus_per_run)
    remote = ray.remote(_task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=MAX_RETRIES)
    pending = {remote.remote(cfg, data_fn, callbacks_fn): i for i, cfg in enumerate(configs)}
    bar = tqdm(total=len(pending), desc="runs", unit="run", file=sys.stderr, disable=not pending)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)  # Ctrl-C interrupts it
            i = pending.pop(ready[0])
            cfg = configs[i]
            try:
                out = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # the retries are used up
                out = {
                    "status": "failed",
                    "error": f"Ray task failed after {MAX_RETRIES} retries: {e}",
                    "history": [],
                }
            run_id = store.record_run(
                study=cfg.study,
                variant=cfg.variant,
                seed=cfg.train.seed,
                config_hash=config_hash(cfg),
                config=config_to_dict(cfg),
                status=out["status"],
                history=out["history"],
                diverged_epoch=out.get("diverged_epoch"),
                error=out.get("error"),
                runtime=out.get("runtime"),
                host=out.get("host"),
                pid=out.get("pid"),
            )
            bar.update()
            report(i, out["status"], run_id, out.get("error") if out["status"] == "failed" else None)
    except BaseException:
        # ray.cancel of a task that is just completing can abort this process in Ray's core ("Tried to
        # complete task that was not pending"): a session of our own is ended instead, which ends its
        # tasks; in the caller's session only the tasks not yet done are cancelled
        if own_session:
            ray.shutdown()
        elif pending:
            _, running = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in running:
                ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
