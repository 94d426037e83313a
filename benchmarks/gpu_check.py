"""The GPU figures in one command: the CUDA tests, the layer benchmark on the GPU, one bf16 and one fp16
epoch of a small preset's run, a 2-GPU torchrun run when there are two GPUs, then one summary.

Each step is a command run in its own process; a failing step is reported and the next one still
runs. The summary gives each step's status, time and last output line, and where its full output
was written. Run it as ``make gpu-check`` (or ``python benchmarks/gpu_check.py [--out DIR]``) on a
machine with a CUDA device; without one it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

HERE = Path(__file__).resolve().parent
PRESET = "selfnorm-fanin"  # its CPU scale trains a small CNN on scikit-learn's digits: no download
sys.path.insert(0, str(HERE))  # bench_layers, for its verdicts


class Step(NamedTuple):
    """A named command; ``{out}`` in its arguments is replaced by the output folder."""

    name: str
    argv: list[str]


def steps() -> list[Step]:
    """What the check runs, in order."""
    bench = [sys.executable, str(HERE / "bench_layers.py"), "--device", "cuda"]
    epoch = [sys.executable, str(Path(__file__).resolve()), "--out", "{out}", "--epoch"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    two_gpus = [
        Step(
            "torchrun 2 GPUs",
            [
                *torchrun,
                "-m",
                "normact",
                "train",
                "{out}/preset_run.yaml",
                "train.device=cuda",
                "--store",
                "{out}/torchrun.sqlite",
            ],
        )
    ]
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
        Step(f"{PRESET} epoch bf16", [*epoch, "bf16"]),
        Step(f"{PRESET} epoch fp16", [*epoch, "fp16"]),
        *(two_gpus if torch.cuda.device_count() >= 2 else []),
    ]


def preset_run(out: Path) -> Path:
    """The first run of the preset's CPU scale, one epoch on CUDA, written as a run config file."""
    from normact.experiments.preset import get_preset
    from normact.train import config_to_dict, with_overrides

    cfg = get_preset(PRESET).sweep("cpu", 1, {}).configs()[0]
    changes = {
        "train.epochs": 1,
        "train.device": "cuda",
        "train.out_dir": str(out / "runs"),
        "train.progress": "log",
    }
    path = out / "preset_run.yaml"
    path.write_text(json.dumps(config_to_dict(with_overrides(cfg, changes))))  # JSON is YAML
    return path


def preset_epoch(out: Path, precision: str) -> int:
    """Train the preset run's epoch at ``precision``; prints its metrics and the stored runtime."""
    from normact.train import ResultsStore, load_config, train

    cfg = load_config(out / "preset_run.yaml", [f"train.precision={precision}"])
    store = ResultsStore(out / f"epoch_{precision}.sqlite")
    result = train(cfg, store)
    row = store.get_run(result.run_id)
    metrics = {
        k: round(v, 4) for k, v in result.history[-1].items() if k in ("train_loss", "test_acc", "time")
    }
    print(f"{result.status} on {row.device} ({row.device_name}), {row.precision}: {metrics}")
    return 0 if result.status == "finished" else 1


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


def summarize(path: Path) -> None:
    """The layer benchmark's ratios to native (forward / forward + backward) and targets, one line each."""
    from bench_layers import met

    report = json.loads(path.read_text())
    print(f"-- {path.name}: {report['machine']}, {report['dtype']}")
    for r in report["rows"]:
        shape = "x".join(map(str, r["shape"]))
        verdict = "ok" if met(r) else "MISSED"
        ratios = f"{r['forward_ratio']:.2f} / {r['fwd_bwd_ratio']:.2f} vs {r['baseline']}"
        print(f"   {r['layer']:19s} {shape:>13s} {ratios:24s} target {r['target']} {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="results/gpu-check", help="folder for logs and JSON (default: %(default)s)"
    )
    parser.add_argument("--epoch", choices=("bf16", "fp16"), help=argparse.SUPPRESS)  # one step of the check
    args = parser.parse_args()
    if args.epoch:
        return preset_epoch(Path(args.out), args.epoch)
    if not torch.cuda.is_available():
        print(
            "gpu-check: no CUDA device visible to torch (torch.cuda.is_available() is False)", file=sys.stderr
        )
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preset_run(out)
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
    for path in sorted(out.glob("bench_layers_*.json")):
        summarize(path)
    return 0 if all(status == 0 for _, status, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
