"""Where and in which precision a run computes: ``train.device`` and ``train.precision``.

``train.device`` is ``auto`` (the current CUDA device when CUDA is available, else the CPU), ``cpu``,
``cuda`` (the current CUDA device) or ``cuda:N``. ``train.precision`` is ``fp32``, ``bf16`` (autocast to
bfloat16; CPU and CUDA) or ``fp16`` (autocast to float16 with a gradient scaler; CUDA only). Every
unknown or absent device is an error naming the setting and what is valid, raised before training.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from pathlib import Path

import torch

from normact.train.config import DEVICE_PATTERN

__all__ = ["PRECISIONS", "autocast", "device_name", "resolve_device"]

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str, precision: str = "fp32") -> torch.device:
    """The ``torch.device`` of a ``train.device`` value, checked against the machine and the precision."""
    if not DEVICE_PATTERN.fullmatch(spec):
        raise ValueError(f"train.device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    given = spec
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    elif spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"train.device={spec} but CUDA is not available here (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda or 'no'}); use train.device=cpu or auto"
            )
        count = torch.cuda.device_count()
        if ":" in spec and int(spec.partition(":")[2]) >= count:
            raise ValueError(
                f"train.device={spec} but this machine has {count} CUDA device(s): cuda:0..{count - 1}"
            )
    device = torch.device(spec)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"train.precision=fp16 needs a CUDA device (train.device={given} runs on the CPU); "
            "use train.precision=bf16 or fp32 there"
        )
    return device


def device_name(device: torch.device) -> str:
    """The device's model name: the GPU's, or the CPU's from ``/proc/cpuinfo`` where there is one."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """``torch.autocast`` to the precision's dtype on the device; nothing at all for ``fp32``."""
    if precision == "fp32":
        yield
        return
    with torch.autocast(device.type, dtype=PRECISIONS[precision]):
        yield
