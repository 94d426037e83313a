"""Speed and saved memory of normact's layers against the native torch activation they build on.

For each layer and shape, the forward (training mode) and the forward + backward are timed in the
same run as the native baseline, interleaved call by call so that machine noise hits both alike;
the script prints medians (``--stat min``: minima, for a machine shared with other jobs, whose
scheduling delays inflate medians), the ratio layer / native, and the bytes autograd keeps for the backward
as a multiple of the input's size. Targets, on the forward + backward: the normalized activations
<= 1.3x their base (on CPU 1.5x at 256x4096, where a native call takes well under a millisecond),
the SELU family <= 0.85x ``F.selu`` on CPU and 1.05x on a GPU; saved bytes <= 1x the input (a few
saved scalars aside).

glibc's malloc hands freed memory back to the system and faults it in again, which makes timings of
tensors of a few MiB bimodal; ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_`` (printed
when set) change that.

    python benchmarks/bench_layers.py [--repeat 25] [--threads N] [--torch-path] [--device cuda]
                                      [--dtype bfloat16] [--stat min] [--clock cpu] [--json out.json]

On a machine whose cores are shared with other jobs, ``--threads 1 --clock cpu`` times the CPU that
each call uses, which waiting for a core does not inflate.

On a GPU every timed call ends with a device synchronisation; ``--torch-path`` bypasses the fused
kernels there too, and a third shape, (512, 64, 56, 56), is the input of the self-normalization
paper's latency table (SELU 10.487 / 14.833 ms forward / backward on a V100, sSELU 10.570 / 15.260,
lSELU 10.571 / 15.284: 1.01x / 1.03x). ``make gpu-check`` runs this on the GPU in float32 and
bfloat16.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normact.functional import fused_kernels
from normact.nn import DSELU, LSELU, SSELU, NReLU, NSwish

SHAPES = [(64, 64, 56, 56), (256, 4096)]
# the input of the self-normalization paper's kernel latency table (its Table 3, on a V100), GPU only
PAPER_SHAPE = (512, 64, 56, 56)
STATS = {"median": statistics.median, "min": min}
# wall-clock time, or the CPU time of the process (all its threads): on a machine whose cores other
# jobs hold, time spent waiting for a core is not counted (use with --threads 1, where no thread
# spins waiting for another)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
Fn = Callable[[Tensor], Tensor]


def cases(device: str, shape: tuple[int, ...]) -> list[tuple[str, Callable[[], nn.Module], str, Fn, float]]:
    """(name, layer factory, baseline name, baseline, target forward + backward ratio)."""
    eps, trainable = 0.017, {"trainable_lambda": True}
    normalized = 1.5 if device == "cpu" and len(shape) == 2 else 1.3
    selu = 0.85 if device == "cpu" else 1.05
    return [
        ("NReLU", NReLU, "torch.relu", torch.relu, normalized),
        ("NSwish", NSwish, "F.silu", F.silu, normalized),
        ("DSELU", lambda: DSELU.from_epsilon(eps), "F.selu", F.selu, selu),
        ("SSELU", lambda: SSELU.from_epsilon(eps), "F.selu", F.selu, selu),
        ("LSELU", lambda: LSELU.from_epsilon(eps), "F.selu", F.selu, selu),
        ("SSELU trainable lam", lambda: SSELU.from_epsilon(eps, **trainable), "F.selu", F.selu, selu),
        ("LSELU trainable lam", lambda: LSELU.from_epsilon(eps, **trainable), "F.selu", F.selu, selu),
    ]


def saved_bytes(fn: Fn, x: Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of ``fn(x)``."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x.detach().requires_grad_())
    return sum(storages.values())


def _sync(x: Tensor) -> Callable[[], None]:
    return torch.cuda.synchronize if x.is_cuda else (lambda: None)


def interleaved(
    a: Callable[[], object],
    b: Callable[[], object],
    repeat: int,
    sync: Callable[[], None],
    stat: Callable[[list[float]], float] = statistics.median,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """``stat`` (the median) of the seconds of ``a`` and of ``b``, called alternately after warm-up."""
    for _ in range(3):
        a(), b()
    sync()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for f, ts in zip((a, b), times, strict=True):
            start = clock()
            f()
            sync()
            ts.append(clock() - start)
    return stat(times[0]), stat(times[1])


def forward_backward(fn: Fn, x: Tensor, grad: Tensor) -> Callable[[], None]:
    def step() -> None:
        x.grad = None
        fn(x).backward(grad)

    return step


def measure(
    layer: nn.Module, base: Fn, x: Tensor, repeat: int, stat=statistics.median, clock=time.perf_counter
) -> dict[str, float]:
    grad, xg = torch.randn_like(x), x.clone().requires_grad_()
    sync = _sync(x)
    with torch.no_grad():
        base_f, layer_f = interleaved(lambda: base(x), lambda: layer(x), repeat, sync, stat, clock)
    base_fb, layer_fb = interleaved(
        forward_backward(base, xg, grad), forward_backward(layer, xg, grad), repeat, sync, stat, clock
    )
    size = x.numel() * x.element_size()
    return {
        "forward_ms": 1e3 * layer_f,
        "baseline_forward_ms": 1e3 * base_f,
        "forward_ratio": layer_f / base_f,
        "fwd_bwd_ms": 1e3 * layer_fb,
        "baseline_fwd_bwd_ms": 1e3 * base_fb,
        "fwd_bwd_ratio": layer_fb / base_fb,
        "saved_x_input": saved_bytes(layer, x) / size,
        "baseline_saved_x_input": saved_bytes(base, x) / size,
    }


def met(r: dict) -> bool:
    """Whether a row's forward + backward meets its target and it saves at most the input (1.001x)."""
    return r["fwd_bwd_ratio"] <= r["target"] and r["saved_x_input"] <= 1.001


def show(r: dict) -> str:
    shape = "x".join(map(str, r["shape"]))
    fwd = f"{r['forward_ms']:7.3f} vs {r['baseline_forward_ms']:7.3f} ms = {r['forward_ratio']:4.2f}x"
    fwd_bwd = f"{r['fwd_bwd_ms']:7.3f} vs {r['baseline_fwd_bwd_ms']:7.3f} ms = {r['fwd_bwd_ratio']:4.2f}x"
    saved = f"{r['saved_x_input']:5.3f}x ({r['baseline']} {r['baseline_saved_x_input']:4.2f}x)"
    verdict = f"target {r['target']:.2f}x {'ok' if met(r) else 'MISSED'}"
    return f"{r['layer']:19s} {shape:>11s} | fwd {fwd} | fwd+bwd {fwd_bwd} | saved {saved} | {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=25, help="timed calls per function (default 25)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--torch-path", action="store_true", help="bypass the fused CPU kernels")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--dtype", default="float32", choices=DTYPES, help="input dtype (default: %(default)s)"
    )
    parser.add_argument(
        "--stat",
        default="median",
        choices=STATS,
        help="timing statistic (default: median; min on a machine shared with other jobs)",
    )
    parser.add_argument(
        "--clock",
        default="wall",
        choices=CLOCKS,
        help="wall-clock or process CPU time (cpu: for a busy shared machine, with --threads 1)",
    )
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    if args.clock == "cpu" and args.device != "cpu":
        parser.error("--clock cpu times CPU work; a GPU's work needs --clock wall")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    machine = platform.processor() or platform.machine()
    path = "pure-torch path" if args.torch_path else "fused kernels where they apply"
    if args.device != "cpu":
        machine = torch.cuda.get_device_name(args.device)
    malloc = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_"))
    threads = f"{torch.get_num_threads()} threads"
    clock = f"{args.stat}s of {args.clock} time"
    print(f"torch {torch.__version__}, {machine}, {threads}, {args.dtype}, {path}, {clock}", malloc)
    rows = []
    with fused_kernels(False) if args.torch_path else contextlib.nullcontext():
        for shape in SHAPES if args.device == "cpu" else [*SHAPES, PAPER_SHAPE]:
            x = torch.randn(shape, device=args.device, dtype=DTYPES[args.dtype])
            for name, factory, base_name, base, target in cases(args.device, shape):
                row = {"layer": name, "baseline": base_name, "shape": list(shape), "target": target}
                layer = factory().to(args.device, x.dtype).train()
                row |= measure(layer, base, x, args.repeat, STATS[args.stat], CLOCKS[args.clock])
                print(show(row), flush=True)
                rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device}
            meta |= {"dtype": args.dtype, "machine": machine, "stat": args.stat, "clock": args.clock}
            json.dump(meta | {"torch_path": args.torch_path, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
