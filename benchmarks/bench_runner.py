"""Runner overhead: epochs through ``normact.train.train`` against a bare hand-written torch loop.

Both train the same MLP on the same in-memory data (Fashion-MNIST shaped random tensors) with SGD,
shuffle each epoch and evaluate on the test set after each epoch. The runner also writes the results
store, an atomic checkpoint and per-epoch probes from ``normact.probes`` (convergence Score, weight
means, activation second moments) on 1000 test samples. Runs alternate, after one warm-up of each;
the table gives median seconds per epoch and the ratio to the bare loop. Target: at most 5 % overhead.

    python benchmarks/bench_runner.py [--epochs 2] [--repeats 3] [--device cuda] [--threads 2]
"""

from __future__ import annotations

import argparse
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
from normact.train import ResultsStore, load_config, train


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


def runner(
    data: SimpleNamespace, epochs: int, batch_size: int, lr: float, device: str, folder: Path, full: bool
) -> None:
    out_dir = str(folder / "runs") if full else None
    cfg = load_config(
        {
            "model": {"name": "bench_mlp"},
            "data": {"batch_size": batch_size, "eval_batch_size": 1000},
            "optim": {"name": "sgd", "lr": lr, "momentum": 0.9},
            "train": {"epochs": epochs, "device": device, "progress": "none", "out_dir": out_dir},
        }
    )
    store = ResultsStore(folder / "bench.sqlite") if full else None
    train(cfg, store, [Probes()] if full else [], data=data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = make_data(args.n_train, args.n_test)
    lr = 0.01
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        common = (data, args.epochs, args.batch_size, lr, args.device)
        cases = {
            "bare torch loop": lambda: bare_loop(data, args.epochs, args.batch_size, lr, args.device),
            "runner, no store/ckpt/probes": lambda: runner(*common, folder, False),
            "runner, store+ckpt+probes": lambda: runner(*common, folder, True),
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


if __name__ == "__main__":
    main()
