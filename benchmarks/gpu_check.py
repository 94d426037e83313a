"""The GPU figures in one command: the CUDA tests and the layer benchmark on the GPU, then one summary.

Each step is a command run in its own process; a failing step is reported and the next one still
runs. The summary gives each step's status, time and last output line, and where its full output
was written. Run it as ``make gpu-check`` (or ``python benchmarks/gpu_check.py [--out DIR]``) on a
machine with a CUDA device; without one it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

HERE = Path(__file__).resolve().parent


class Step(NamedTuple):
    """A named command; ``{out}`` in its arguments is replaced by the output folder."""

    name: str
    argv: list[str]


def steps() -> list[Step]:
    """What the check runs, in order."""
    bench = [sys.executable, str(HERE / "bench_layers.py"), "--device", "cuda"]
    return [
        Step("CUDA tests", [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"]),
        Step(
            "layer benchmark float32",
            [*bench, "--dtype", "float32", "--json", "{out}/bench_layers_fp32.json"],
        ),
        Step(
            "layer benchmark bfloat16",
            [*bench, "--dtype", "bfloat16", "--json", "{out}/bench_layers_bf16.json"],
        ),
    ]


def run(step: Step, out: Path) -> tuple[int, float, str]:
    """Run one step, echoing its output and keeping it in ``out``; returns (status, seconds, last line)."""
    argv = [a.replace("{out}", str(out)) for a in step.argv]
    log = out / (step.name.replace(" ", "_") + ".log")
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        last = ""
        for line in proc.stdout:
            sys.stdout.write(line)
            f.write(line)
            last = line.strip() or last
        status = proc.wait()
    return status, time.perf_counter() - start, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="results/gpu-check", help="folder for logs and JSON (default: %(default)s)"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(
            "gpu-check: no CUDA device visible to torch (torch.cuda.is_available() is False)", file=sys.stderr
        )
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"gpu-check: torch {torch.__version__}, {torch.cuda.get_device_name()}, output in {out}", flush=True
    )
    results = []
    for step in steps():
        print(f"== {step.name}", flush=True)
        results.append((step, *run(step, out)))
    print("\n== gpu-check summary")
    for step, status, seconds, last in results:
        print(f"{'ok' if status == 0 else f'FAILED ({status})':12s} {step.name:28s} {seconds:7.1f} s  {last}")
    return 0 if all(status == 0 for _, status, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
