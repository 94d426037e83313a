"""Building the fused CPU kernels: bounded waits, no stale locks, remembered failures, cache keys."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from normact.functional import _fused

SRC = str(Path(__file__).resolve().parents[2] / "src")
# builds the kernels, runs a layer and prints which path it took
SCRIPT = """
import torch
from normact.functional import _fused
from normact.nn import NReLU
x = torch.randn(4, 50)
out = NReLU()(x)
assert torch.isfinite(out).all()
print("path:", "fused" if _fused._state["module"] is not None else "torch")
"""


def start(cache: Path, **env: str) -> subprocess.Popen:
    env = os.environ | {"NORMACT_KERNEL_CACHE": str(cache), "PYTHONPATH": SRC} | env
    env.pop("NORMACT_FUSED_KERNELS_FAILED", None)
    env.pop("NORMACT_FUSED_KERNELS", None)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


def test_a_build_killed_midway_leaves_no_lock_the_next_process_waits_on(tmp_path):
    first = start(tmp_path)
    folder = _fused.build_info().folder.name
    lock = tmp_path / folder / "build.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().startswith("pid")):  # the builder holds the lock
        assert time.monotonic() < deadline, "the first build did not start"
        time.sleep(0.1)
    while not (tmp_path / folder / "build.ninja").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # torch is compiling (and holds its own lock file)
    builder = int(lock.read_text().split()[1])
    first.kill()
    os.killpg(builder, signal.SIGKILL)  # the builder and its compilers, as a killed job would end
    first.communicate()
    # the next process takes the build over at once, and builds within the bound or falls back
    start_time = time.monotonic()
    out, err = finish(start(tmp_path, NORMACT_KERNEL_BUILD_TIMEOUT="20"))
    assert time.monotonic() - start_time < 60
    assert int(lock.read_text().split()[1]) != builder  # a new builder took the lock
    assert err.count("normact: building the fused CPU kernels") == 1
    if "path: torch" in out:
        assert "did not finish within 20 s" in err and "normact kernels --build" in err
    else:
        assert "path: fused" in out


def test_a_failed_build_is_remembered_with_its_reason(tmp_path):
    out, err = finish(start(tmp_path, CXX="false"))  # a compiler that always fails
    assert "path: torch" in out and "the build failed" in err
    failed = _fused.build_info().folder.name
    reason = (tmp_path / failed / "failed.txt").read_text()
    assert reason.strip()
    out, err = finish(start(tmp_path))
    assert "path: torch" in out
    assert "building" not in err  # no second attempt
    assert "an earlier build failed" in err and "normact kernels --build" in err


@pytest.mark.parametrize(
    ("capability", "machine", "march"),
    [
        ("AVX512", "x86_64", "-march=x86-64-v4"),
        ("AVX2", "x86_64", "-march=x86-64-v3"),
        ("DEFAULT", "x86_64", "-march=x86-64"),
        ("DEFAULT", "aarch64", None),
    ],
)
def test_the_build_targets_torchs_capability_level_never_native(monkeypatch, capability, machine, march):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(_fused.platform, "machine", lambda: machine)
    build = _fused.build_info()
    assert not any("native" in f for f in build.flags)
    assert [f for f in build.flags if f.startswith("-march")] == ([march] if march else [])
    # one build (name and folder) per target
    other = "AVX2" if capability != "AVX2" else "AVX512"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: other)
    assert (_fused.build_info().name != build.name) == (march is not None)


def test_two_environments_keep_separate_builds(monkeypatch):
    here = _fused.build_info()
    monkeypatch.setattr(torch, "__file__", "/elsewhere/venv/lib/site-packages/torch/__init__.py")
    there = _fused.build_info()
    assert there.name != here.name and there.folder != here.folder
    assert there.flags == here.flags
