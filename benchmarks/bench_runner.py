"""Runner overhead: epochs through ``normact.train.train`` against a bare hand-written torch loop.

Both train the same MLP on the same in-memory data (Fashion-MNIST shaped random tensors) with SGD,
shuffle each epoch and evaluate on the test set after each epoch. The runner also writes the results
store, an atomic checkpoint and per-epoch probes from ``normact.probes`` (convergence Score, weight
means, activation second moments) on 1000 test samples. Runs alternate, after one warm-up of each;
the table gives median seconds per epoch and the ratio to the bare loop. Target: at most 5 % overhead.
A fourth case is the runner with ``train.precision=bf16`` (autocast), against the fp32 runner.

``--ray`` instead times a sweep of ``--runs`` small runs through ``run_sweep`` with the local engine
(in this process) and with ``--engine ray`` on a local Ray instance of one CPU (one run at a time),
after a warm-up sweep of each (the Ray worker has imported torch); it prints seconds per run and the
ratio. Target: at most 10 % more wall-clock per run once the instance is up.

    python benchmarks/bench_runner.py [--epochs 2] [--repeats 3] [--device cuda] [--threads 2]
    python benchmarks/bench_runner.py --ray [--runs 4] [--n-train 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from normact import probes
from normact.models import register_model
from normact.train import Config, ResultsStore, Sweep, load_config, run_sweep, train, with_overrides


@register_model("bench_mlp")
def bench_mlp(num_classes: int, input_shape: tuple[int, ...], width: int = 256) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(int(torch.tensor(input_shape).prod()), width),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.Linear(width, num_classes),
    )


class Probes:
    """Per-epoch probes from ``normact.probes``: ANAct's convergence Score on one probe batch, the mean of
    every weight matrix, and the second moment of every activation's output over the probe batches."""

    def on_epoch_end(self, model: nn.Module, epoch: int, batches) -> dict[str, float]:
        x, _ = next(iter(batches))
        score, _ = probes.convergence_score(model, x)
        out = {"score": score, **{f"weight_mean/{k}": v for k, v in probes.weight_means(model).items()}}
        with probes.attach(model, probes.SecondMoment()) as p, torch.no_grad():
            for xb, _ in batches:
                model(xb)
        out.update({f"{r['metric']}/{r['layer']}": r["value"] for r in p.records()})
        return out


def make_data(n_train: int, n_test: int) -> SimpleNamespace:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + n_test, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n_train + n_test,), generator=g)
    return SimpleNamespace(
        train=TensorDataset(x[:n_train], y[:n_train]),
        test=TensorDataset(x[n_train:], y[n_train:]),
        num_classes=10,
        input_shape=(1, 28, 28),
    )


def bare_loop(data: SimpleNamespace, epochs: int, batch_size: int, lr: float, device: str) -> None:
    torch.manual_seed(0)
    model = bench_mlp(10, (1, 28, 28)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    (x, y), (xt, yt) = [[t.to(device) for t in ds.tensors] for ds in (data.train, data.test)]
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=g).to(device)
        total = torch.zeros((), device=device)
        for i in range(0, len(y), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        model.eval()
        with torch.no_grad():
            correct = sum(
                (model(xt[i : i + 1000]).argmax(1) == yt[i : i + 1000]).sum().item()
                for i in range(0, len(yt), 1000)
            )
        _ = total.item() / len(y), correct / len(yt)


def bench_config(epochs: int, batch_size: int, lr: float, device: str, **train_keys: object) -> Config:
    return load_config(
        {
            "model": {"name": "bench_mlp"},
            "data": {"batch_size": batch_size, "eval_batch_size": 1000},
            "optim": {"name": "sgd", "lr": lr, "momentum": 0.9},
            "train": {"epochs": epochs, "device": device, "progress": "none", **train_keys},
        }
    )


def runner(
    data: SimpleNamespace,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str,
    folder: Path,
    full: bool,
    precision: str = "fp32",
) -> None:
    out_dir = str(folder / "runs") if full else None
    cfg = bench_config(epochs, batch_size, lr, device, out_dir=out_dir, precision=precision)
    store = ResultsStore(folder / "bench.sqlite") if full else None
    train(cfg, store, [Probes()] if full else [], data=data)


def ray_data(cfg: object = None) -> SimpleNamespace:
    """The sweep's data (``run_sweep``'s data_fn, sent to the Ray workers by value)."""
    return make_data(int(os.environ["BENCH_N_TRAIN"]), int(os.environ["BENCH_N_TEST"]))


def bench_ray(args: argparse.Namespace) -> None:
    """Seconds per run of a sweep with the local engine and with the Ray engine (one run at a time)."""
    import ray

    os.environ.update(BENCH_N_TRAIN=str(args.n_train), BENCH_N_TEST=str(args.n_test))
    tic = time.perf_counter()
    ray.init(num_cpus=1, include_dashboard=False)
    start = time.perf_counter() - tic
    threads = args.threads or 1
    # normact's own MLP (the Ray workers do not import this script's registrations)
    model = {"model.name": "mlp", "model.act": "relu", "model.kwargs.depth": 2, "model.kwargs.width": 256}
    base = with_overrides(
        bench_config(args.epochs, args.batch_size, 0.01, "cpu", threads=threads, out_dir=None), model
    )
    times: dict[str, list[float]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats + 1):  # the first round is the warm-up
            for engine in times:
                sweep = Sweep(study=f"{engine}{repeat}", base=base, seeds=list(range(args.runs)))
                store = Path(tmp) / f"{engine}.sqlite"
                tic = time.perf_counter()
                run_sweep(sweep, store, data_fn=ray_data, engine=engine)
                if repeat:
                    times[engine].append((time.perf_counter() - tic) / args.runs)
    ray.shutdown()
    local = statistics.median(times["local"])
    print(
        f"{args.runs} runs of {args.epochs} epochs, {args.n_train} train samples, {threads} thread(s) "
        f"per run, "
        f"{args.repeats} repeats; Ray instance started in {start:.1f} s"
    )
    print(f"{'engine':8s} {'s/run (median)':>15s} {'min':>8s} {'ratio':>7s}")
    for engine, ts in times.items():
        med = statistics.median(ts)
        print(f"{engine:8s} {med:15.3f} {min(ts):8.3f} {med / local:7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--ray", action="store_true", help="time the Ray engine against the local one")
    parser.add_argument("--runs", type=int, default=4, help="--ray: runs per sweep")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.ray:
        bench_ray(args)
        return
    data = make_data(args.n_train, args.n_test)
    lr = 0.01
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        common = (data, args.epochs, args.batch_size, lr, args.device)
        cases = {
            "bare torch loop": lambda: bare_loop(data, args.epochs, args.batch_size, lr, args.device),
            "runner, no store/ckpt/probes": lambda: runner(*common, folder, False),
            "runner, store+ckpt+probes": lambda: runner(*common, folder, True),
            "runner, bf16 autocast": lambda: runner(*common, folder, False, "bf16"),
        }
        for case in cases.values():  # warm-up: lazy imports, allocator, first-call costs
            case()
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, case in cases.items():
                tic = time.perf_counter()
                case()
                times[name].append((time.perf_counter() - tic) / args.epochs)
    base = statistics.median(times["bare torch loop"])
    print(
        f"{args.n_train} train / {args.n_test} test samples, batch {args.batch_size}, {args.epochs} epochs, "
        f"{args.repeats} repeats, {args.device}, {torch.get_num_threads()} threads"
    )
    print(f"{'case':32s} {'s/epoch (median)':>17s} {'min':>8s} {'ratio':>7s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:32s} {med:17.4f} {min(ts):8.4f} {med / base:7.3f}")
    bf16 = statistics.median(times["runner, bf16 autocast"])
    print(
        f"bf16 autocast / fp32 runner: {bf16 / statistics.median(times['runner, no store/ckpt/probes']):.3f}"
    )


if __name__ == "__main__":
    main()
