"""Fused Triton kernels for CUDA tensors: the CPU kernels' passes, for float32, bfloat16 and float16.

The passes of the C++ kernels of ``_fused`` on rows ``(G, M)`` of the input (one row for batch
statistics, one per sample for instance statistics), returning their outputs
(:class:`FunctionalKernels`). Unlike the CPU kernels, ``moments`` does not write ``f(x)``:
``forward`` recomputes it from x, which reads x twice
but writes the output once (elementwise math is free next to memory traffic on a GPU). Arithmetic
and sums run in float32 (float64 for float64 inputs), outputs are in the input's dtype, and each
block's partial sums are added in float64 in a fixed order (no atomics: results are deterministic).
The activation's parameters and the per-row scale and shift are read from device tensors, so no
value goes through the host and no kernel is compiled per parameter value.

Used when Triton imports and a CUDA device is present (``TRITON_INTERPRET=1`` runs the kernels on
CPU tensors, which is how the tests check them). A kernel that fails to compile for a dtype and
activation disables Triton for them with one warning naming the cause; the pure-torch path runs.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from torch import Tensor

from normact.functional._kernel_api import FunctionalKernels

__all__ = ["DTYPES", "TRITON", "TritonKernels", "status", "usable"]

DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
_BLOCK = 4096
# device types the kernels run on; the interpreter (TRITON_INTERPRET=1) runs them on CPU tensors
_state: dict[str, Any] = {"device_types": {"cuda"}, "probed": {}, "params": {}}


def _kernels() -> Any:
    """The module of jit kernels, imported at first use; None where Triton does not import."""
    if "kernels" not in _state:
        try:
            from normact.functional import _triton_kernels as kernels
        except Exception as error:  # an optional dependency (ImportError), or a broken install
            kernels = None
            _state["error"] = f"Triton does not import ({error}); `pip install normact[triton]` installs it"
        _state["kernels"] = kernels
    return _state["kernels"]


def status() -> tuple[bool, str]:
    """Whether the Triton kernels can run here, and why (or why not)."""
    if _kernels() is None:
        return False, _state["error"]
    import triton

    if os.environ.get("TRITON_INTERPRET") == "1":
        return True, f"triton {triton.__version__} in interpreter mode (TRITON_INTERPRET=1)"
    if not torch.cuda.is_available():
        return False, f"triton {triton.__version__} imports, but torch sees no CUDA device"
    return True, f"triton {triton.__version__} on {torch.cuda.get_device_name()}"


def _acc(x: Tensor) -> tuple[Any, torch.dtype]:
    """The precision arithmetic and sums run in, as Triton and torch dtypes."""
    tl = _state["kernels"].tl
    return (tl.float64, torch.float64) if x.dtype == torch.float64 else (tl.float32, torch.float32)


def _grid(x: Tensor) -> tuple[int, int]:
    return x.shape[0], -(-x.shape[1] // _BLOCK)


def _params(device: torch.device, p0: float, p1: float, lam: float) -> Tensor:
    """The activation's parameters as a float64 tensor on ``device``, made once per value."""
    key = (device, p0, p1, lam)
    params = _state["params"].get(key)
    if params is None:
        params = _state["params"][key] = torch.tensor([p0, p1, lam], dtype=torch.float64, device=device)
    return params


def _per_row(t: Tensor, rows: int) -> Tensor:
    return t.reshape(rows).contiguous()


class TritonKernels(FunctionalKernels):
    """The Triton kernels on contiguous ``(G, M)`` rows."""

    def moments(self, x: Tensor, kind: int, p0: float, p1: float, lam: float) -> Tensor:
        grid, (acc, acc_torch) = _grid(x), _acc(x)
        part = torch.empty(*grid, 5, dtype=acc_torch, device=x.device)
        params = _params(x.device, p0, p1, lam)
        _state["kernels"].moments[grid](x, params, part, x.shape[1], KIND=kind, ACC=acc, BLOCK=_BLOCK)
        sums = part.sum(1, dtype=torch.float64)
        n = torch.full((x.shape[0], 1), x.shape[1], dtype=torch.float64, device=x.device)
        return torch.cat([n, sums], dim=1)

    def forward(
        self, x: Tensor, scale: Tensor, shift: Tensor, kind: int, p0: float, p1: float, lam: float
    ) -> Tensor:
        y = torch.empty_like(x)
        scale, shift = _per_row(scale, x.shape[0]), _per_row(shift, x.shape[0])
        params = _params(x.device, p0, p1, lam)
        _state["kernels"].forward[_grid(x)](
            x, y, scale, shift, params, x.shape[1], KIND=kind, ACC=_acc(x)[0], BLOCK=_BLOCK
        )
        return y

    def backward(
        self,
        grad: Tensor,
        x: Tensor,
        scale: Tensor,
        shift: Tensor,
        kind: int,
        p0: float,
        p1: float,
        lam: float,
        dot: bool,
    ) -> tuple[Tensor, Tensor]:
        gx = torch.empty_like(x)
        grid, (acc, acc_torch) = _grid(x), _acc(x)
        scale, shift = _per_row(scale, x.shape[0]), _per_row(shift, x.shape[0])
        part = torch.zeros(grid, dtype=acc_torch, device=x.device)
        params = _params(x.device, p0, p1, lam)
        _state["kernels"].backward[grid](
            grad, x, gx, scale, shift, params, part, x.shape[1], KIND=kind, DOT=dot, ACC=acc, BLOCK=_BLOCK
        )
        return gx, part.sum(1, dtype=torch.float64)


TRITON = TritonKernels()


def _probe(device: torch.device, dtype: torch.dtype, kind: int) -> bool:
    """Run each kernel once on a small tensor; on failure warn once and report False."""
    key = (device, dtype, kind)
    ok = _state["probed"].get(key)
    if ok is None:
        try:
            x = torch.linspace(-2, 2, 37, device=device).to(dtype).reshape(1, -1)
            one = torch.ones(1, device=device)
            TRITON.moments(x, kind, 0.5, 0.5, 1.0)
            TRITON.forward(x, one, one, kind, 0.5, 0.5, 1.0)
            TRITON.backward(x, x, one, one, kind, 0.5, 0.5, 1.0, True)
            ok = True
        except Exception as error:  # a compiler error, an unsupported GPU, ...
            ok = False
            warnings.warn(
                f"normact: the Triton kernels fail for {dtype} on {device} ({type(error).__name__}: "
                f"{error}); running the pure-torch path there",
                RuntimeWarning,
                stacklevel=4,
            )
        _state["probed"][key] = ok
    return ok


def usable(x: Tensor, kind: int) -> TritonKernels | None:
    """The Triton kernels for ``x`` (a CUDA tensor of a supported dtype) and activation ``kind``."""
    if x.device.type not in _state["device_types"] or x.dtype not in DTYPES or _kernels() is None:
        return None
    return TRITON if _probe(x.device, x.dtype, kind) else None
