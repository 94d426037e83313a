"""Which compute path each layer takes on this machine, and why (``normact kernels``)."""

from __future__ import annotations

import os

import torch

from normact.functional import _fused, _triton
from normact.functional.activations import elementwise, elementwise_names

__all__ = ["cpu_kernels_status", "cuda_kernels_status", "environment", "layer_paths"]

# layers named by their module, then NormalizedActivation's other bases
_NAMED = {"NReLU": "relu", "NSwish": "swish", "NLReLU": "leaky_relu"}
_SELU = ("DSELU", "SSELU", "LSELU")


def cpu_kernels_status() -> tuple[bool, str]:
    """Whether the fused CPU kernels run here, and a sentence saying why (without building them)."""
    if not _fused._state["enabled"]:
        return False, "switched off (NORMACT_FUSED_KERNELS=0 or fused_kernels(False))"
    if _fused._state["module"] is not None:
        return True, "loaded in this process"
    if _fused._state["error"] is not None:
        return False, _fused._state["error"]
    build = _fused.build_info()
    capability = torch.backends.cpu.get_cpu_capability()
    where = f"for {build.target} (torch's CPU capability {capability}) in {build.folder}"
    if build.done.exists():
        return True, f"built {where}"
    failure = _fused._failure(build)
    if failure is not None:
        return False, f"an earlier build failed: {failure}; `normact kernels --build` tries again"
    return True, f"not built yet: built at first use (about 30 s) or by `normact kernels --build`, {where}"


def cuda_kernels_status() -> tuple[bool, str]:
    """Whether the fused Triton kernels run on CUDA tensors here, and why."""
    if not _fused._state["enabled"]:
        return False, "switched off (NORMACT_FUSED_KERNELS=0 or fused_kernels(False))"
    return _triton.status()


def layer_paths() -> list[dict[str, str]]:
    """For each layer: its path for float32/float64 CPU tensors and for CUDA tensors.

    Other CPU dtypes (bfloat16, float16) always take the pure-torch path; on CUDA the Triton kernels
    take float32, float64, bfloat16 and float16.
    """
    cpu = "fused C++ kernels" if cpu_kernels_status()[0] else "pure torch (see above)"
    cuda = "fused Triton kernels" if cuda_kernels_status()[0] else "pure torch (see above)"
    none = "pure torch (no kernel for this base)"
    rows = []
    layers = [(name, elementwise(base)) for name, base in _NAMED.items()]
    layers += [(f"NormalizedActivation({n})", elementwise(n)) for n in elementwise_names() if n != "swish"]
    for layer, base in layers:
        fused = base.kernel is not None
        rows.append({"layer": layer, "cpu": cpu if fused else none, "cuda": cuda if fused else none})
    return rows + [{"layer": layer, "cpu": cpu, "cuda": cuda} for layer in _SELU]


def environment() -> dict[str, str]:
    """The settings that choose a path, as set in this process."""
    keys = ("NORMACT_FUSED_KERNELS", "NORMACT_KERNEL_BUILD_TIMEOUT", "NORMACT_KERNEL_CACHE")
    return {k: os.environ[k] for k in keys if k in os.environ}
