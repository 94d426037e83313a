"""The `normact` command line: each subcommand parses its arguments and makes one library call."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import logging
import math
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from normact import __version__, theory
from normact.imports import import_modules, is_object_spec, load_object
from normact.theory import figures, solver, table5

DEFAULT_STORE = "results/normact.sqlite"  # also normact.train.store.DEFAULT_STORE (not imported: torch)


def _finite(x: object) -> object:
    """JSON has no inf or NaN: undefined quantities print as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _params(items: Sequence[str]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--param expects key=number (e.g. slope=0.2), got {item!r}") from None
        if not sep or not key.strip():
            raise ValueError(f"--param expects key=number (e.g. slope=0.2), got {item!r}")
    return out


def _activation(name: str, params: dict[str, float]) -> theory.Activation:
    """A registered activation, or the function (or module class, built without arguments) at module:name."""
    if not is_object_spec(name):
        return theory.get_activation(name, **params)
    obj = load_object(name, "activation")
    if inspect.isclass(obj):
        obj = obj(**params)
    elif params:
        raise ValueError(f"--param applies to a registered activation or a module class, not to {name!r}")
    return dataclasses.replace(theory.get_activation(obj), name=name)


def _cmd_theory(args: argparse.Namespace) -> int:
    if args.activation is None and not args.plot:
        raise ValueError("name an activation (e.g. relu) or pass --plot DIR")
    act = None if args.activation is None else _activation(args.activation, _params(args.param))
    if args.plot:
        for path in figures.write_figures(args.plot, act):
            print(path)
        if act is None:
            return 0
    report = theory.quantities(act, args.mean, args.std).as_dict()
    try:
        report["gpn_gain"] = theory.gpn_gain(act, args.std, args.mean)
    except ValueError:  # E[f^2] = 0: no gain restores the second moment
        report["gpn_gain"] = None
    check = theory.self_normalization_check(act)
    report["self_normalization"] = {
        "eps": check.eps,
        "second_moment": check.second_moment,
        "q_range": [float(check.q[0]), float(check.q[-1])],
        "violations": check.violations,
    }
    if args.json:
        print(json.dumps(_finite(report)))
        return 0
    params = ", ".join(f"{k}={v:g}" for k, v in act.params.items())
    print(f"{act.name}{f'({params})' if params else ''} at x ~ N({args.mean:g}, {args.std:g}^2)")
    rows = [
        ("mean", "E[f]"),
        ("var", "Var[f]"),
        ("second_moment", "E[f^2]"),
        ("rho", "rho = Var[f] / s^2 (ANAct eq. 31)"),
        ("rho_prime", "rho' = E[f'^2] (ANAct eq. 6)"),
        ("lam", "lambda (ANAct eq. 13)"),
        ("R", "R score (ANAct eq. 19)"),
        ("skewness", "skewness of f"),
        ("saturation", "saturation E|f| / asymptote"),
        ("frac_positive", "P(f > 0)"),
        ("phi", "phi(q), q = s^2 (eq. 6)"),
        ("delta", "delta_q (eq. 2)"),
        ("gamma", "gamma_q = |q phi'(q) + 1| (Prop. 3.1)"),
        ("gpn_gain", "GPN gain sqrt(E[x^2] / E[f^2])"),
    ]
    for key, label in rows:
        value = report[key]
        print(f"  {label:<40} {'undefined' if value is None else f'{value:.10g}'}")
    sn = report["self_normalization"]
    bands = ", ".join(f"[{a:.3g}, {b:.3g}]" for a, b in sn["violations"]) or "none"
    print(
        f"  Definition 2 at q in [{sn['q_range'][0]:g}, {sn['q_range'][1]:g}]: eps = phi(1) - 1 = "
        f"{sn['eps']:.6g}, E[f^2] = {sn['second_moment']:.6g}, bound fails on {bands}"
    )
    return 0


def _cmd_solve(args: argparse.Namespace) -> int:
    if args.table5:
        print(table5.format_table5(table5.compare_table5()))
        return 0
    if args.family is None or args.eps is None:
        raise ValueError("give FAMILY and --eps (e.g. normact solve sselu --eps 0.017), or --table5")
    try:
        sol = solver.solve(args.family, args.eps, central=args.central, lam_min=args.lam_min)
    except solver.LamMinError as err:
        raise ValueError(f"--lam-min {args.lam_min:g}: {err}") from None
    if args.json:
        keys = ("lam", "alpha", "beta", "gamma", "residuals", "converged", "reason", "lam_min")
        print(json.dumps(_finite({k: getattr(sol, k) for k in keys})))
        return 0
    beta = "" if sol.beta is None else f"  beta = {sol.beta:.10g}"
    print(f"{sol.family}{' (central)' if sol.central else ''} at eps = {sol.eps:g}")
    print(f"  lam = {sol.lam:.10g}  alpha = {sol.alpha:.10g}{beta}")
    active = f"  (lam >= {sol.lam_min:g} is active)" if sol.lam_at_bound else ""
    print(f"  gamma = |phi'(1) + 1| = {sol.gamma:.10g}{active}")
    print("  residuals: " + ", ".join(f"{k} {v:+.2e}" for k, v in sol.residuals.items()))
    print(f"  converged: {sol.converged}" + (f" ({sol.reason})" if sol.reason else ""))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from normact.train import ResultsStore, load_config, train

    import_modules(args.imports)
    config = load_config(args.config, args.overrides)
    result = train(config, ResultsStore(args.store), resume=args.resume, rerun=args.rerun)
    return 0 if result.status == "finished" else 1


def _cmd_sweep(args: argparse.Namespace) -> int:
    from normact.train.sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep, args.overrides)
    items = run_sweep(sweep, args.store, jobs=args.jobs, imports=args.imports, **_engine_options(args))
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return 1 if counts.get("failed") else 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from normact import experiments

    if args.list:
        print(experiments.describe_presets())
        return 0
    if args.preset is None:
        raise ValueError("name a preset (e.g. anact-lenet5) or pass --list")
    result = experiments.reproduce(
        args.preset,
        args.scale,
        jobs=(1 if args.nproc > 1 else os.cpu_count() or 1) if args.jobs is None else args.jobs,
        seeds=args.seeds,
        store=args.store,
        out=args.out,
        data_dir=args.data_dir,
        engine=_engine_options(args),
        device=args.device,
    )
    for item in result.failed:
        print(f"failed: {item.variant} seed {item.seed}\n{item.error}", file=sys.stderr)
    if result.report is None:
        print("no run completed; nothing to report", file=sys.stderr)
        return 1
    print(f"report: {result.path} (print it with 'normact report {args.preset} --scale {args.scale}')")
    for v in result.report.verdicts:
        print(f"  {v.status:<12} (Holm: {v.adjusted:<12}) {v.claim}")
    return 1 if result.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from normact import experiments

    if args.study:
        from normact.experiments.summary import write_summary

        text, path = write_summary(args.store, args.study, args.out, args.metric)
        print(text)
        print(f"written to {path} (curves.png beside it)")
        return 0
    if args.all:
        reports, path = experiments.report_all(args.store, args.out, args.runs)
        print(path.read_text())
        print(f"overview: {path} ({len(reports)} reports)")
        return 0
    if args.preset is None:
        raise ValueError("name a preset (e.g. anact-lenet5) or pass --all")
    rep, path = experiments.report(args.preset, args.scale, args.store, args.out, args.seeds, args.runs)
    print(experiments.render_markdown(rep))
    print(f"written to {path} (figures beside it)")
    return 0


_RUN_COLUMNS = (
    "id", "study", "variant", "seed", "status", "config", "epochs_done", "diverged_epoch", "test_acc",
    "test_acc5", "device", "precision", "world_size", "updated_at",
)  # fmt: skip
_RUN_JSON_ONLY = ("device_name", "torch_version")  # in --json, too long for the table


def _cmd_runs(args: argparse.Namespace) -> int:
    from normact.train.export import export_runs
    from normact.train.store import ResultsStore

    if not Path(args.store).is_file():
        raise FileNotFoundError(f"results store {args.store!r} does not exist")
    store = ResultsStore(args.store)
    if args.rm:
        deleted = store.delete_runs(args.rm)
        print(f"deleted run(s) {', '.join(map(str, deleted))} from {args.store}")
        return 0
    records = store.runs(study=args.study, variant=args.variant, status=args.prune or args.status)
    if args.prune:
        deleted = store.delete_runs([r.id for r in records]) if records else []
        print(f"deleted {len(deleted)} {args.prune} run(s) from {args.store}")
        return 0
    if args.export:
        path = export_runs(store, records, args.export, args.format)
        print(f"{len(records)} run(s) written to {path}")
        return 0
    finals = store.final_metrics([r.id for r in records], ["test_acc", "test_acc5", "test_loss"])
    columns = (*_RUN_COLUMNS, *_RUN_JSON_ONLY)
    rows = [
        {c: getattr(r, c, None) for c in columns}
        | {"config": r.config_hash[:12], "config_hash": r.config_hash}
        | finals.get(r.id, {})
        for r in records
    ]
    if args.json:
        print(json.dumps(_finite(rows)))
        return 0
    cells = [[_cell(row.get(c)) for c in _RUN_COLUMNS] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(_RUN_COLUMNS)]
    for line in [list(_RUN_COLUMNS), *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    return 0


def _cmd_kernels(args: argparse.Namespace) -> int:
    from normact.functional import _fused, paths

    if args.build:
        with _fused.fused_kernels(True):
            built = _fused.kernels(force=True) is not None
        print(f"fused CPU kernels: {'built' if built else 'not built: ' + str(_fused._state['error'])}")
        if not built:
            return 1
    rows = paths.layer_paths()
    if args.json:
        status = {"cpu": paths.cpu_kernels_status(), "cuda": paths.cuda_kernels_status()}
        report = {k: {"used": ok, "why": why} for k, (ok, why) in status.items()}
        print(json.dumps(report | {"environment": paths.environment(), "layers": rows}))
        return 0
    for device, (ok, why) in (("CPU", paths.cpu_kernels_status()), ("CUDA", paths.cuda_kernels_status())):
        print(f"fused {device} kernels: {'used' if ok else 'not used'}: {why}")
    for key, value in paths.environment().items():
        print(f"{key}={value}")
    columns = {"layer": "layer", "cpu": "CPU float32/float64", "cuda": "CUDA"}
    widths = {k: max(len(v), *(len(r[k]) for r in rows)) for k, v in columns.items()}
    for row in [columns, *rows]:
        print("  ".join(row[k].ljust(w) for k, w in widths.items()).rstrip())
    print("Other CPU dtypes (bfloat16, float16) take the pure-torch path.")
    return 0


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine", choices=("local", "ray"), default="local",
        help="local: --jobs processes on this machine (default); ray: one Ray task per run (normact[ray])",
    )  # fmt: skip
    p.add_argument(
        "--address", help="Ray cluster HOST:PORT, ray://HOST:PORT or auto (default: a local instance)"
    )
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs of each run's Ray task (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs of each run's Ray task (default 0)")
    p.add_argument(
        "--checkpoint-dir", help="the runs' checkpoint folder (train.out_dir; shared storage on Ray)"
    )
    p.add_argument(
        "--nproc", type=int, default=1,
        help="processes per run (local engine): each run a torchrun job of N processes, e.g. one per GPU",
    )  # fmt: skip


def _engine_options(args: argparse.Namespace) -> dict[str, object]:
    if args.engine == "local" and (args.address or args.cpus_per_run != 1.0 or args.gpus_per_run):
        raise ValueError("--address, --cpus-per-run and --gpus-per-run go with --engine ray")
    options: dict[str, object] = {"engine": args.engine, "checkpoint_dir": args.checkpoint_dir}
    if args.nproc != 1:
        options["nproc"] = args.nproc
    if args.engine == "ray":
        options.update(address=args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
    return options


def _import_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, e.g. one that registers models (normact.models.register_model); "
        "repeatable; the current folder is searched",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="normact", description=__doc__)
    parser.add_argument("--version", action="version", version=f"normact {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("theory", help="exact Gaussian quantities of an activation; --plot writes figures")
    p.add_argument(
        "activation",
        nargs="?",
        help=f"one of {', '.join(theory.list_activations())}, or module:function (numpy or torch, or an "
        "nn.Module class)",
    )
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="activation parameter")
    p.add_argument("--mean", type=float, default=0.0, help="mean of the Gaussian input (default 0)")
    p.add_argument("--std", type=float, default=1.0, help="std of the Gaussian input (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--plot",
        metavar="DIR",
        help="write the R-score and phi(q) figures as PNG into DIR, with the activation named (and a figure "
        "of it, f and f'); without one, also the self-normalization paper's Figures 2, 3, 5 and 6",
    )
    p.set_defaults(run=_cmd_theory)

    p = sub.add_parser(
        "solve", help="solve dSELU/sSELU/lSELU parameters for eps; --table5 compares the paper"
    )
    p.add_argument("family", nargs="?", choices=sorted(solver.FAMILIES), help="activation family")
    p.add_argument("--eps", type=float, help="target phi(1) = 1 + eps")
    p.add_argument("--central", action="store_true", help="also require E[f] = 0 (eq. 13)")
    p.add_argument(
        "--lam-min",
        type=float,
        default=1.0,
        metavar="L",
        help="lower bound on lam (default 1, the paper's; its ablation uses 0.5); sselu and lselu only",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--table5", action="store_true", help="the paper's Table 5 beside the optimum")
    p.set_defaults(run=_cmd_solve)

    p = sub.add_parser("train", help="train one run from a YAML config (see docs/training.md)")
    p.add_argument("config", help="YAML run config")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=0.01")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument(
        "--rerun", action="store_true", help="replace the run's finished or diverged result (kept otherwise)"
    )
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    _import_option(p)
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("sweep", help="run a (variant, seed) grid, skipping runs already done")
    p.add_argument("sweep", help="YAML sweep file (study, seeds, config, variants)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="overrides of the base config")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default: %(default)s)")
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    _add_engine_args(p)
    _import_option(p)
    p.set_defaults(run=_cmd_sweep)

    p = sub.add_parser(
        "runs", help="list, export or delete the runs in a results store (interrupted: the process died)"
    )
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    p.add_argument("--study", help="only this study")
    p.add_argument("--variant", help="only this variant")
    p.add_argument(
        "--status",
        choices=("running", "interrupted", "finished", "diverged", "failed"),
        help="only this status",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list (with the full config hash)")
    p.add_argument("--export", metavar="FILE", help="write the runs and their per-epoch metrics to a file")
    p.add_argument("--format", choices=("csv", "parquet"), help="of --export (default: from its suffix)")
    p.add_argument("--rm", type=int, nargs="+", metavar="ID", help="delete these runs and their metrics")
    p.add_argument(
        "--prune", choices=("failed", "interrupted"), help="delete every run with this status (and filters)"
    )
    p.set_defaults(run=_cmd_runs)

    p = sub.add_parser(
        "reproduce", help="run a paper's study (a preset) over seeds, resuming what is done, then report"
    )
    p.add_argument("preset", nargs="?", help="preset name, e.g. anact-lenet5 (see --list)")
    p.add_argument("--list", action="store_true", help="list the presets, their claims and time estimates")
    p.add_argument("--scale", default="cpu", help="cpu (minutes on a laptop) or full (the paper's setting)")
    p.add_argument(
        "--jobs",
        type=int,
        help=f"worker processes (default: {os.cpu_count() or 1}, one per core; 1 with --nproc)",
    )
    p.add_argument("--seeds", type=int, help="seeds per variant (default: the scale's)")
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    p.add_argument("--out", help="report folder (default: <store folder>/<preset>/<scale>)")
    p.add_argument("--data-dir", help="dataset folder (default: $NORMACT_DATA, see docs/data.md)")
    p.add_argument(
        "--device", help="train.device of every run: auto, cpu, cuda, cuda:N (default: the preset's)"
    )
    _add_engine_args(p)
    p.set_defaults(run=_cmd_reproduce)

    p = sub.add_parser("report", help="a preset's table, figures and verdicts from the results store")
    p.add_argument("preset", nargs="?", help="preset name, e.g. anact-lenet5")
    p.add_argument("--all", action="store_true", help="every preset with runs, and an overview page")
    p.add_argument(
        "--study",
        help="any study in the store (e.g. your sweep's): per-variant statistics of the final metrics, "
        "best epochs, diverged runs and median curves",
    )
    p.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="KEY",
        help="with --study: a metric to summarise (repeatable; default test_acc and test_loss)",
    )
    p.add_argument("--scale", default="cpu", help="which scale's runs (default: %(default)s)")
    p.add_argument("--seeds", type=int, help="judge seeds 0 .. K-1 (default: the scale's)")
    p.add_argument("--store", default=DEFAULT_STORE, help="SQLite results store (default: %(default)s)")
    p.add_argument(
        "--runs",
        help="rebuild the report from this runs.csv (a report's per-run table) instead of the store; with "
        "--all, a folder of reports (e.g. docs/results): every <preset>/runs.csv under it",
    )
    p.add_argument(
        "--out",
        help="report folder (default: <store folder>/<preset>/<scale>, the runs.csv's folder with --runs; "
        "--all: <store folder>, or the --runs folder; --study: <store folder>/<study>/summary)",
    )
    p.set_defaults(run=_cmd_report)

    p = sub.add_parser("kernels", help="which compute path each layer uses here and why; --build builds them")
    p.add_argument(
        "--build", action="store_true", help="build the fused CPU kernels now (retrying a failure)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_cmd_kernels)
    return parser


_RUNNERS = ("train", "sweep", "reproduce")  # commands whose interrupted work a second call resumes


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input is one line on stderr and exit code 2, Ctrl-C one line and 130, a closed
    pipe ends it quietly."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"normact {args.command}: {err}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as err:  # a store damaged where it was first opened fine
        print(f"normact {args.command}: results store {args.store!r}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the runs written so far are whole (see docs/training.md)
        resumes = "; the same command resumes what is not done" if args.command in _RUNNERS else ""
        print(f"normact {args.command}: interrupted{resumes}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. normact runs | head: stop writing, without a traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
