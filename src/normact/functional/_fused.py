"""Fused CPU kernels for the normalized activations and the SELU family (optional, built once).

One pass over the input gives every statistic a normalized activation needs; one pass gives its
output ``scale * (f(x) - shift)``; one pass gives ``scale * grad * f'(x)`` together with
``sum(grad * (f(x) - shift))`` (the gradient of ``alpha`` or of a trainable ``lam``). Sums are
taken in blocks of 16384 elements whose partial sums are added in a fixed order, so results do not
depend on the number of threads. Two operators run a whole layer on an eager CPU tensor, its
autograd (a ``torch::autograd::Function``), statistics and running update included:
``normalized_activation`` and ``selu_family`` (see :func:`eager`).

The C++ (``_fused.cpp``) is compiled at first use (about 30 s, announced by one line on stderr), or
ahead of time by ``normact kernels --build``. The build runs in a child process under an ``flock``
(released by the system if its holder dies, so no lock is ever left behind) and is bounded by
``NORMACT_KERNEL_BUILD_TIMEOUT`` (300 s, waiting for another process's build included); past it the
pure-torch path runs with a warning. It targets the x86-64 level of torch's CPU capability (never
``-march=native``), and its cache folder is named by a hash of the source, flags, torch, Python and
the environment, so environments and CPU generations sharing a cache never load each other's build.
A failed build is remembered (in the environment of this process and its children, and as
``failed.txt`` in the build folder, with the reason) so that workers do not retry it.

Set ``NORMACT_FUSED_KERNELS=0`` (or use :func:`fused_kernels`) for the pure-torch path; it is also
used where the kernels cannot be built, on other devices and dtypes, and under ``torch.compile``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils import _python_dispatch

from normact.functional import _triton

__all__ = ["SILU", "eager", "fused_kernels", "fused_kernels_available", "kernels", "traced", "usable"]

# activation kinds of the kernels; f = lam * g(x) with parameters p0, p1
LEAKY, SILU, ELU, LSELU = 0, 1, 2, 3

_PLAIN = (torch.Tensor, torch.nn.Parameter)
_CPU_DTYPES = (torch.float32, torch.float64)
_SOURCE = Path(__file__).with_name("_fused.cpp")
# x86-64 microarchitecture levels for torch's CPU capabilities (what torch found this CPU supports)
_X86_LEVEL = {"AVX512": "x86-64-v4", "AVX2": "x86-64-v3"}
_WAIT_TIMEOUT = 3  # the builder's exit status when another process held the build lock too long
_state: dict[str, Any] = {
    "module": None,
    "tried": False,
    "error": None,
    "enabled": os.environ.get("NORMACT_FUSED_KERNELS", "1") != "0",
}


class Build(NamedTuple):
    """Where and how the kernels are built on this machine, in this environment."""

    name: str  # also the operator namespace, torch.ops.<name>
    folder: Path
    target: str
    flags: list[str]

    @property
    def library(self) -> Path:
        return self.folder / f"{self.name}.so"

    @property
    def done(self) -> Path:
        """Written after a build loaded; without it the folder holds an interrupted build."""
        return self.folder / "built"

    @property
    def failed(self) -> Path:
        return self.folder / "failed.txt"


def _target() -> tuple[str, list[str]]:
    """The instruction set to compile for: the level of torch's CPU capability, never -march=native.

    A binary for a level runs on every CPU of that level, so a cache shared by machines of different
    CPU generations (a home directory on a cluster) holds one build per level and loads on each
    machine only the one its CPU supports.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    if platform.machine().lower() in ("x86_64", "amd64"):
        level = _X86_LEVEL.get(capability, "x86-64")
        return level, [f"-march={level}", "-mtune=generic"]
    return platform.machine().lower(), []  # the compiler's default target: the platform's baseline


def build_timeout() -> float:
    """Seconds a process waits for the kernels to be built (``NORMACT_KERNEL_BUILD_TIMEOUT``, 300)."""
    value = os.environ.get("NORMACT_KERNEL_BUILD_TIMEOUT", "300")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"NORMACT_KERNEL_BUILD_TIMEOUT must be a number of seconds, got {value!r}") from None


def build_info() -> Build:
    """The build for this machine: its name hashes the source, flags, torch, Python and the environment.

    The environment (torch's install folder) is part of the name so that two virtual environments
    with the same torch keep separate builds instead of rebuilding over each other. The folder is
    ``$NORMACT_KERNEL_CACHE`` or ``normact/`` under torch's extension folder (``TORCH_EXTENSIONS_DIR``).
    """
    from torch.utils.cpp_extension import get_default_build_root

    target, march = _target()
    flags = ["-O3", *march, "-fno-trapping-math", "-fopenmp"]
    key = [_SOURCE.read_bytes(), *flags, torch.__version__, os.path.dirname(torch.__file__), sys.version]
    name = "normact_fused_" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    root = os.environ.get("NORMACT_KERNEL_CACHE") or os.path.join(
        os.environ.get("TORCH_EXTENSIONS_DIR") or get_default_build_root(), "normact"
    )
    return Build(name, Path(root) / name, target, flags)


def _compile(build: Build, wait: float) -> int:
    """Build under an exclusive lock on the build folder (run in a child process by :func:`_build`).

    The lock is an ``flock``, which the system releases when its holder dies, so a killed build never
    leaves a lock behind; holding it, any build files without the ``built`` mark are the remains of an
    interrupted build (torch's own ``lock`` file included) and are removed. Returns 0 when built (or
    already built by another process), ``_WAIT_TIMEOUT`` if the lock stayed held for ``wait`` seconds.
    """
    import fcntl  # POSIX only; elsewhere the build fails once, remembered, with this as the reason

    from torch.utils.cpp_extension import load

    build.folder.mkdir(parents=True, exist_ok=True)
    with open(build.folder / "build.lock", "a+") as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return _WAIT_TIMEOUT
                time.sleep(0.2)
        if build.done.exists():
            return 0
        lock.truncate(0)
        lock.write(f"pid {os.getpid()} on {platform.node()}\n")
        lock.flush()
        for path in build.folder.iterdir():
            if path.name != "build.lock":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        defines = [f"-DNORMACT_NAMESPACE={build.name}"]
        load(
            build.name,
            [str(_SOURCE)],
            extra_cflags=build.flags + defines,
            extra_ldflags=["-fopenmp"],
            build_directory=str(build.folder),
            is_python_module=False,
        )
        build.done.write_text(f"{build.target} {' '.join(build.flags)}\n")
    return 0


def _failure(build: Build) -> str | None:
    """The reason an earlier build failed, remembered by this process tree or in the build folder."""
    reason = os.environ.get("NORMACT_FUSED_KERNELS_FAILED")
    if reason:
        return reason
    if build.failed.exists():
        return f"{build.failed.read_text().strip()} (remembered in {build.failed})"
    return None


class KernelsUnavailable(RuntimeError):
    """The fused CPU kernels could not be built or loaded; the message says why and what to do."""


def _build(force: bool = False) -> Any:
    """Build (in a child process, bounded by :func:`build_timeout`) and load the kernels.

    ``force`` retries a build that failed before. Raises :class:`KernelsUnavailable`.
    """
    build = build_info()
    if force:
        os.environ.pop("NORMACT_FUSED_KERNELS_FAILED", None)
        build.failed.unlink(missing_ok=True)
    if not build.done.exists():
        reason = _failure(build)
        if reason:
            raise KernelsUnavailable(
                f"an earlier build failed: {reason}; run `normact kernels --build` to try again"
            )
        timeout = build_timeout()
        ahead = "build them ahead with `normact kernels --build`"
        print(
            f"normact: building the fused CPU kernels for {build.target} (once, about 30 s, at most "
            f"{timeout:g} s) in {build.folder}; {ahead}",
            file=sys.stderr,
            flush=True,
        )
        status, output = _run_builder(build, timeout)
        if status == _WAIT_TIMEOUT or status is None:
            holder = (build.folder / "build.lock").read_text().strip() or "another process"
            raise KernelsUnavailable(
                f"the build did not finish within {timeout:g} s (NORMACT_KERNEL_BUILD_TIMEOUT; lock held "
                f"by {holder}); {ahead}"
            )
        if status != 0:
            reason = " | ".join(output.strip().splitlines()[-3:]) or f"builder exit status {status}"
            os.environ["NORMACT_FUSED_KERNELS_FAILED"] = reason
            with contextlib.suppress(OSError):  # a read-only cache: remembered by this process tree only
                build.failed.write_text(reason + "\n")
            raise KernelsUnavailable(f"the build failed: {reason}")
    try:
        torch.ops.load_library(str(build.library))
    except OSError as error:
        raise KernelsUnavailable(
            f"{build.library} does not load ({error}); delete {build.folder} to rebuild"
        ) from error
    return getattr(torch.ops, build.name)


def _run_builder(build: Build, timeout: float) -> tuple[int | None, str]:
    """Run :func:`_compile` in a child process; its status (None on timeout) and output."""
    code = "import sys; from normact.functional import _fused as f; "
    code += f"sys.exit(f._compile(f.build_info(), {timeout}))"
    path = [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]  # this normact, first
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, path))}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # one process group with its compilers, to end them all on a timeout
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        _end(proc)
        return None, proc.communicate()[0]
    except BaseException:  # Ctrl-C: end the builder and its compilers too
        _end(proc)
        raise


def _end(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def kernels(force: bool = False) -> Any:
    """The compiled kernels (``torch.ops.<name>``), built at first call; None if disabled or unavailable.

    ``force`` tries again after a failure. A build or load that fails warns once, naming the cause.
    """
    if not _state["enabled"]:
        return None
    if force or not _state["tried"]:
        _state["tried"] = True
        try:
            _state["module"], _state["error"] = _build(force), None
        except KernelsUnavailable as error:
            _state["error"] = str(error)
            warnings.warn(
                f"normact: the fused CPU kernels are not used ({error}); running the pure-torch path. "
                "Set NORMACT_FUSED_KERNELS=0 to skip them.",
                RuntimeWarning,
                stacklevel=3,
            )
    return _state["module"]


def traced(*tensors: Tensor) -> bool:
    """Whether ops on ``tensors`` are being traced or intercepted rather than run.

    True under ``torch.compile``, under ``torch.func`` transforms, under a ``TorchDispatchMode``
    (fake tensors, ``make_fx``, flop counters) and for tensor subclasses (the fake and functional
    tensors compilers trace with).
    """
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return True
    if _python_dispatch._get_current_dispatch_mode() is not None:
        return True
    return any(type(t) not in _PLAIN for t in tensors)


def usable(x: Tensor, kind: int) -> Any:
    """The fused kernels for ``x`` and activation ``kind``, or None for the pure-torch path.

    The C++ kernels for float32/float64 CPU tensors, the Triton kernels (``_triton``) for CUDA
    tensors; None where they are switched off, unavailable, or ``x`` is being traced.
    """
    if not _state["enabled"] or traced(x):
        return None
    if _on_cpu(x):
        return kernels()
    return _triton.usable(x, kind)


def _on_cpu(x: Tensor) -> bool:
    """Whether ``x`` is for the C++ kernels: float32/float64 on the CPU (unless tests put Triton there)."""
    return x.device.type == "cpu" and x.dtype in _CPU_DTYPES and "cpu" not in _triton._state["device_types"]


def eager(x: Tensor) -> Any:
    """The C++ kernels where they run ``x``, an eager (not traced) float32/float64 CPU tensor; else None.

    Their ``normalized_activation`` and ``selu_family`` operators run a whole layer, its autograd
    included, in C++: no Python runs between the module's call and the kernels.
    """
    return kernels() if _state["enabled"] and _on_cpu(x) and not traced(x) else None


def fused_kernels_available() -> bool:
    """Whether the fused CPU kernels are enabled and built (building them if needed)."""
    return kernels() is not None


@contextlib.contextmanager
def fused_kernels(enabled: bool) -> Iterator[None]:
    """Use (or bypass) the fused CPU kernels inside the ``with`` block."""
    previous = _state["enabled"]
    _state["enabled"] = enabled
    try:
        yield
    finally:
        _state["enabled"] = previous
