"""The ``normact`` command line: one small function per subcommand, each making one library call."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence


def _train(args: argparse.Namespace) -> int:
    from normact.train import ResultsStore, load_config, train

    config = load_config(args.config, args.overrides)
    result = train(config, ResultsStore(args.store), resume=args.resume)
    return 0 if result.status == "finished" else 1


def _add_train(sub: argparse._SubParsersAction) -> None:
    from normact.train.store import DEFAULT_STORE

    p = sub.add_parser("train", help="train one run from a YAML config")
    p.add_argument("config", help="YAML run config")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=0.01")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    p.set_defaults(func=_train)


def _sweep(args: argparse.Namespace) -> int:
    from normact.train.sweep import load_sweep, run_sweep

    items = run_sweep(load_sweep(args.sweep, args.overrides), args.store, jobs=args.jobs)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return 1 if counts.get("failed") else 0


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    from normact.train.store import DEFAULT_STORE

    p = sub.add_parser("sweep", help="run a (variant, seed) grid, skipping runs already done")
    p.add_argument("sweep", help="YAML sweep file (study, seeds, config, variants)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="overrides of the base config")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default: %(default)s)")
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    p.set_defaults(func=_sweep)


_RUN_COLUMNS = (
    "id",
    "study",
    "variant",
    "seed",
    "status",
    "epochs_done",
    "diverged_epoch",
    "test_acc",
    "updated_at",
)


def _runs(args: argparse.Namespace) -> int:
    from normact.train import ResultsStore

    store = ResultsStore(args.store)
    records = store.runs(study=args.study, variant=args.variant, status=args.status)
    finals = store.final_metrics([r.id for r in records], ["test_acc", "test_loss"])
    rows = [{c: getattr(r, c, None) for c in _RUN_COLUMNS} | finals.get(r.id, {}) for r in records]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(_table(rows, _RUN_COLUMNS))
    return 0


def _add_runs(sub: argparse._SubParsersAction) -> None:
    from normact.train.store import DEFAULT_STORE, STATUSES

    p = sub.add_parser("runs", help="list the runs in a results store")
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    p.add_argument("--study", help="only this study")
    p.add_argument("--variant", help="only this variant")
    p.add_argument("--status", choices=STATUSES, help="only runs with this status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_runs)


def _table(rows: list[dict], columns: Sequence[str]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in body)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(line.rstrip() for line in lines)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_train, _add_sweep, _add_runs]


def build_parser() -> argparse.ArgumentParser:
    """The ``normact`` argument parser with every subcommand in ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="normact", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:  # bad input: config errors, unknown names
        print(f"normact: error: {e}", file=sys.stderr)
        return 2
