"""Fixtures shared by the whole suite: a fixed torch seed per test, and the fused/pure-torch engines."""

import os
import shutil

import pytest
import torch

if not torch.cuda.is_available():  # the Triton kernels' tests run in Triton's interpreter, on CPU tensors
    os.environ.setdefault("TRITON_INTERPRET", "1")

from normact.functional import fused_kernels, fused_kernels_available


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def require_fused_kernels() -> None:
    """Skip where the kernels are switched off or no toolchain exists; a failed build is an error."""
    if os.environ.get("NORMACT_FUSED_KERNELS") == "0":
        pytest.skip("NORMACT_FUSED_KERNELS=0")
    if shutil.which("ninja") is None or shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("no C++ toolchain (ninja and a compiler) to build the fused kernels")
    assert fused_kernels_available(), "the fused CPU kernels failed to build (see the warning)"


@pytest.fixture(params=["torch", "fused"])
def engine(request):
    """Run a test on the pure-torch path and on the fused CPU kernels."""
    if request.param == "fused":
        require_fused_kernels()
    with fused_kernels(request.param == "fused"):
        yield request.param
