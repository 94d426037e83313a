"""Speed and saved memory of normact's fused layers against the native torch activation they build on.

For each layer and shape, the forward (training mode) and the forward + backward are timed in the
same run as the native baseline, interleaved call by call so that machine noise hits both alike;
the script prints medians and the ratio layer / native, and the bytes autograd saves for backward
as a multiple of the input's size. Targets: normalized activations <= 1.3x their base, the SELU
family <= 1.05x ``F.selu``, saved bytes <= 1x the input.

    python benchmarks/bench_layers.py [--repeat 25] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normact.nn import DSELU, LSELU, SSELU, NReLU, NSwish

SHAPES = [(64, 64, 56, 56), (256, 4096)]


def layers() -> list[tuple[str, Callable[[], nn.Module | Callable], str, Callable[[Tensor], Tensor], float]]:
    """(name, factory, baseline name, baseline, target ratio)."""
    return [
        ("NReLU", NReLU, "torch.relu", torch.relu, 1.3),
        ("NSwish", NSwish, "F.silu", F.silu, 1.3),
        ("DSELU", lambda: DSELU.from_epsilon(0.017), "F.selu", F.selu, 1.05),
        ("SSELU", lambda: SSELU.from_epsilon(0.017), "F.selu", F.selu, 1.05),
        ("LSELU", lambda: LSELU.from_epsilon(0.017), "F.selu", F.selu, 1.05),
        ("SSELU trainable lam", lambda: SSELU.from_epsilon(0.017, trainable_lambda=True), "F.selu", F.selu, 1.05),
        ("LSELU trainable lam", lambda: LSELU.from_epsilon(0.017, trainable_lambda=True), "F.selu", F.selu, 1.05),
    ]


def saved_bytes(fn: Callable[[Tensor], Tensor], x: Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of ``fn(x)``."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x.detach().requires_grad_())
    return sum(storages.values())


def interleaved(a: Callable[[], object], b: Callable[[], object], repeat: int, warmup: int = 3) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b``, called alternately."""
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    for _ in range(repeat):
        for f, times in ((a, ta), (b, tb)):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def run(repeat: int) -> list[dict]:
    rows = []
    for shape in SHAPES:
        x = torch.randn(shape)
        grad = torch.randn(shape)
        xg = x.clone().requires_grad_()
        for name, factory, base_name, base, target in layers():
            layer = factory().train()

            def fwd_bwd(fn: Callable[[Tensor], Tensor]) -> Callable[[], None]:
                def step() -> None:
                    xg.grad = None
                    fn(xg).backward(grad)

                return step

            with torch.no_grad():
                t_base_f, t_layer_f = interleaved(lambda: base(x), lambda: layer(x), repeat)
            t_base_fb, t_layer_fb = interleaved(fwd_bwd(base), fwd_bwd(layer), repeat)
            row = {
                "layer": name,
                "baseline": base_name,
                "shape": list(shape),
                "forward_ms": 1e3 * t_layer_f,
                "baseline_forward_ms": 1e3 * t_base_f,
                "forward_ratio": t_layer_f / t_base_f,
                "fwd_bwd_ms": 1e3 * t_layer_fb,
                "baseline_fwd_bwd_ms": 1e3 * t_base_fb,
                "fwd_bwd_ratio": t_layer_fb / t_base_fb,
                "saved_x_input": saved_bytes(layer, x) / (x.numel() * x.element_size()),
                "baseline_saved_x_input": saved_bytes(base, x) / (x.numel() * x.element_size()),
                "target": target,
            }
            rows.append(row)
            print_row(row)
    return rows


def print_row(r: dict) -> None:
    ok = "ok " if max(r["forward_ratio"], r["fwd_bwd_ratio"]) <= r["target"] and r["saved_x_input"] <= 1 else "MISS"
    shape = "x".join(map(str, r["shape"]))
    print(
        f"{r['layer']:20s} {shape:>14s} | fwd {r['forward_ms']:8.3f} ms vs {r['baseline']:10s} "
        f"{r['baseline_forward_ms']:8.3f} ms = {r['forward_ratio']:5.2f}x | fwd+bwd {r['fwd_bwd_ms']:8.3f} vs "
        f"{r['baseline_fwd_bwd_ms']:8.3f} ms = {r['fwd_bwd_ratio']:5.2f}x | saved {r['saved_x_input']:4.2f}x "
        f"(native {r['baseline_saved_x_input']:4.2f}x) | target {r['target']:.2f}x {ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=25, help="timed calls per function (default 25)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    rows = run(args.repeat)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
