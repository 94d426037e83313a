"""Atomic checkpoints holding everything a run needs to continue bit for bit.

A checkpoint is written to a temporary file in the same folder, flushed to disk and renamed over the
old one, so a crash at any moment leaves either the previous or the new checkpoint, never a torn file.
It is read with ``torch.load(weights_only=True)``: only tensors and plain Python containers, no pickled
code. RNG states of Python, NumPy and torch (CPU and CUDA) are stored as tensors or plain lists.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit its run; the message names the file."""


def rng_state() -> dict[str, Any]:
    """The global RNG states of Python, NumPy and torch as checkpoint-safe values."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # noqa: NPY002 (the global state is what user code draws from)
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore global RNG states saved by ``rng_state``."""
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np_state = (np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss)
    np.random.set_state(np_state)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format version) to ``path`` atomically: temporary file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            torch.save({"format_version": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` with ``weights_only=True``.

    Raises:
        CheckpointError: the file is empty, truncated, not a checkpoint, or of another format version.
    """
    try:
        state = torch.load(Path(path), map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch.load raises what its unpickler and zip reader raise
        if isinstance(err, pickle.UnpicklingError) and "allowed global" in str(err):
            reason = "it holds pickled Python objects, which are never loaded"
        else:
            reason = f"empty, truncated or not a checkpoint: {type(err).__name__}"
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read ({reason}); delete it to start the run afresh"
        ) from None
    version = state.get("format_version") if isinstance(state, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {version!r}; expected {FORMAT_VERSION}: "
            "delete it to start the run afresh, or read it with the normact that wrote it"
        )
    return state


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check a checkpoint can be written there, before a run starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise CheckpointError(
            f"cannot write checkpoints to {str(folder)!r} ({err.strerror}); set train.out_dir to a writable "
            "folder, or to null for no checkpoints"
        ) from None
