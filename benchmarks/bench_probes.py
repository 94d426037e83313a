"""Overhead of normact.probes on a training step of a small CNN.

Times the same SGD step (forward, cross-entropy, backward, update) without probes and with several
probe sets, alternating between them in every round so that machine noise hits all alike, and prints
the median step time of each and the median of its per-round ratio to the plain step.

    python benchmarks/bench_probes.py                  # CPU
    python benchmarks/bench_probes.py --device cuda    # GPU, if there is one
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from normact import probes
from normact.probes.select import WEIGHT_LAYERS


def small_cnn(width: int = 32, classes: int = 10) -> nn.Module:
    """Three conv-BN-ReLU blocks, global pooling and a linear classifier (CIFAR-sized input)."""

    def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
        return [
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *block(3, width, 1),
        *block(width, 2 * width, 2),
        *block(2 * width, 2 * width, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, classes),
    )


PROBE_SETS: dict[str, Callable[[], list[probes.Probe]]] = {
    "plain": list,
    # Every per-layer moment probe a training run keeps on: E[h^2] of every pre-activation and of every
    # weight layer's output, each as a per-step series, and the Frobenius norm of every weight gradient.
    "pre-act": lambda: [probes.SecondMoment()],
    "pre+grad": lambda: [probes.SecondMoment(), probes.GradNorm()],
    "moments": lambda: [
        probes.SecondMoment(),
        probes.SecondMoment(where=WEIGHT_LAYERS, tap="output", name="weight_out"),
        probes.GradNorm(),
    ],
    # The evaluation-set probes (per-channel float64 moments and maxima), for reference.
    "eval-set": lambda: [
        probes.ChannelSkewness(),
        probes.Sparsity(),
        probes.NonZeroRatio(),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--batch", type=int, default=64, help="images per step (default: 64)")
    parser.add_argument("--size", type=int, default=32, help="image side (default: 32)")
    parser.add_argument("--width", type=int, default=32, help="channels of the first block (default: 32)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed block (default: 10)")
    parser.add_argument("--rounds", type=int, default=15, help="timed blocks per probe set (default: 15)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = small_cnn(args.width).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    def timed_block(make: Callable[[], list[probes.Probe]]) -> float:
        chosen = make()
        with probes.attach(model, *chosen) if chosen else contextlib.nullcontext() as probe_set:
            sync()
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            sync()
            elapsed = time.perf_counter() - start
            if probe_set is not None:
                probe_set.results()  # read back once, as a run would at the end of an epoch
        return elapsed / args.steps

    for make in PROBE_SETS.values():  # warm-up: allocator, kernels, hook paths
        timed_block(make)
    times: dict[str, list[float]] = {name: [] for name in PROBE_SETS}
    for _ in range(args.rounds):
        for name, make in PROBE_SETS.items():
            times[name].append(timed_block(make))

    plain = times["plain"]
    print(
        f"device={device} batch={args.batch} size={args.size} width={args.width} threads={args.threads} "
        f"steps/block={args.steps} rounds={args.rounds} torch={torch.__version__}"
    )
    print("ratio: median over rounds of (step time with probes / plain step time in the same round)")
    print(f"{'probes':<10} {'median ms/step':>15} {'ratio':>8} {'ratio IQR':>16}")
    for name, samples in times.items():
        ratios = sorted(t / p for t, p in zip(samples, plain, strict=True))
        q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        print(
            f"{name:<10} {1e3 * statistics.median(samples):>15.3f} {statistics.median(ratios):>8.3f} "
            f"{q1:>7.3f} - {q3:<6.3f}"
        )


if __name__ == "__main__":
    main()
