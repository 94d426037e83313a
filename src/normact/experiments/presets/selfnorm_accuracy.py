"""The self-normalization paper's accuracy studies (section 6.2, Table 1; appendix E, Table 6; section 5).

The runs are in ``selfnorm_accuracy.yaml``: the 56-layer serial CNN with SELU, dSELU, sSELU and lSELU
(Table 1's rows at eps = 0.017; at the full scale also BN + ReLU and the other eps) and the 64-layer
fully connected network with SELU, sSELU and lSELU (Table 6's rows), the latter also with weight
centralization and mixup (section 5); the claims, one exact rank-sum test each, are in the YAML too.
This module adds the paper's printed accuracies (shown beside ours, never used as expectations) and
mean test accuracy after the last epoch with Student's t 95 % intervals.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from normact.experiments import stats
from normact.experiments.analysis import Analysis, per_run, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns

LABELS = {"selu": "SELU", "dselu": "dSELU", "sselu": "sSELU", "lselu": "lSELU", "bnrelu": "BN + ReLU"}

# Table 1 (56-layer CNN, 4 runs, 95 % CI): eps -> {activation: (CIFAR-10, CIFAR-100, Tiny ImageNet)},
# each (mean %, half-width %); BN + ReLU and SELU have no eps (None).
PAPER_TABLE1: dict[str, dict[float | None, tuple[tuple[float, float], ...]]] = {
    "bnrelu": {None: ((85.64, 1.15), (52.60, 1.98), (43.45, 0.58))},
    "selu": {None: ((85.69, 1.10), (55.08, 0.37), (45.50, 0.47))},
    "dselu": {
        0.01: ((86.07, 0.40), (54.09, 0.79), (45.63, 0.49)),
        0.017: ((86.39, 0.37), (53.92, 0.88), (46.92, 0.96)),
        0.03: ((86.93, 0.61), (54.49, 0.56), (46.45, 0.33)),
        0.05: ((85.99, 1.30), (54.33, 0.33), (47.01, 0.36)),
        0.07: ((86.88, 0.48), (54.83, 0.29), (46.55, 0.59)),
    },
    "sselu": {
        0.01: ((87.18, 0.38), (57.21, 0.50), (46.26, 0.49)),
        0.017: ((87.29, 0.20), (56.30, 0.79), (46.67, 0.98)),
        0.03: ((87.25, 0.26), (56.15, 0.70), (46.73, 0.46)),
        0.05: ((86.09, 1.14), (55.43, 0.85), (46.82, 0.67)),
        0.07: ((86.99, 0.33), (55.06, 0.39), (46.69, 0.64)),
    },
    "lselu": {
        0.01: ((83.19, 0.23), (54.61, 0.82), (44.77, 0.38)),
        0.017: ((85.80, 0.28), (55.51, 0.99), (46.46, 0.66)),
        0.03: ((86.69, 0.84), (56.78, 0.44), (47.80, 0.58)),
        0.05: ((86.15, 1.29), (56.35, 0.71), (47.71, 0.34)),
        0.07: ((86.64, 0.47), (54.47, 1.59), (47.27, 0.45)),
    },
}
PAPER_TABLE1_SETS = ("CIFAR-10", "CIFAR-100", "Tiny ImageNet")

# Table 6 (64-layer FC network): eps -> {activation: (MiniBooNE, Adult, HTRU2)}, (mean %, half-width %).
PAPER_TABLE6: dict[str, dict[float | None, tuple[tuple[float, float], ...]]] = {
    "selu": {None: ((92.80, 0.13), (84.55, 0.35), (97.64, 0.26))},
    "sselu": {
        0.01: ((93.01, 0.30), (84.68, 0.23), (98.03, 0.16)),
        0.017: ((92.96, 0.29), (84.66, 0.24), (97.73, 0.29)),
        0.03: ((92.85, 0.17), (84.56, 0.27), (97.92, 0.34)),
    },
    "lselu": {
        0.01: ((93.29, 0.11), (84.86, 0.18), (97.79, 0.20)),
        0.017: ((93.19, 0.19), (84.63, 0.24), (98.03, 0.21)),
        0.03: ((92.81, 0.23), (84.67, 0.25), (98.01, 0.20)),
    },
}
PAPER_TABLE6_SETS = ("UCI MiniBooNE", "UCI Adult", "HTRU2")


NETWORKS = {"cnn": "56-layer CNN", "fc": "64-layer FC network"}


def split_variant(variant: str) -> tuple[str, str, bool]:
    """``cnn_sselu`` -> ("cnn", "sselu", False); ``fc_selu_wcm`` -> ("fc", "selu", True);
    ``cnn_lselu_eps0.03`` -> ("cnn", "lselu", False)."""
    net, _, rest = variant.partition("_")
    act, _, tricks = rest.partition("_")
    return net, act, tricks == "wcm"


def label(variant: str) -> str:
    net, act, tricks = split_variant(variant)
    eps = variant.partition("_eps")[2]
    return (
        f"{net.upper()} {LABELS.get(act, act)}"
        + (f" (eps {eps})" if eps else "")
        + (" + WC + mixup" if tricks else "")
    )


def variant_eps(overrides: dict[str, Any]) -> float | None:
    """The eps a variant's activation is solved for (None: SELU, BN + ReLU)."""
    return (overrides.get("model.kwargs.act_kwargs") or {}).get("eps")


class _Variant:
    """The accuracies of one variant's runs."""

    def __init__(self, runs: StudyRuns, variant: str) -> None:
        self.name = variant
        self.net, self.act, self.tricks = split_variant(variant)
        self.eps = variant_eps(runs.preset.variants_of(runs.scale.name)[variant])
        self.acc = runs.series(variant, "test_acc")  # (runs, epochs)
        self.seeds = [r.seed for r in runs.runs[variant]]
        self.diverged = sum(r.status == "diverged" for r in runs.runs[variant])
        # a diverged run's accuracy is that of chance level or worse: it counts with its last finite
        # accuracy, or 0 when it diverged in its first epoch, so divergence costs accuracy in the tests
        self.final = per_run(self.acc, lambda r: r[-1], 0.0)

    @property
    def n(self) -> int:
        return len(self.seeds)


def _build(runs: StudyRuns, report: Report) -> None:
    data = {v: _Variant(runs, v) for v in runs.complete_variants()}
    datasets: dict[str, str] = runs.scale.analysis.get("datasets", {})
    run = {net: {(d.act, d.eps) for d in data.values() if d.net == net} for net in NETWORKS}
    report.sections += [
        Section(f"Test accuracy, ours ({runs.scale.name} scale)", _table_ours(data, datasets)),
        Section("Table 1, the paper (56-layer CNN, the rows run here)", _table_paper(
            PAPER_TABLE1, PAPER_TABLE1_SETS, run["cnn"]
        )),
        Section("Table 6, the paper (64-layer FC network, the rows run here)", _table_paper(
            PAPER_TABLE6, PAPER_TABLE6_SETS, run["fc"]
        )),
    ]  # fmt: skip
    report.figures += [
        Figure(
            "accuracy_curves",
            "Test accuracy per epoch: median over seeds (line) and range (band)",
            lambda fig: _draw_curves(fig, data),
            (11, 4),
        ),
        Figure(
            "final_accuracy",
            "Test accuracy after the last epoch, every run (dots) and the mean with its 95 % interval",
            lambda fig: _draw_final(fig, data),
            (11, 4),
        ),
    ]


def _table_ours(data: dict[str, _Variant], datasets: dict[str, str]) -> str:
    rows = []
    for v, d in data.items():
        ci = stats.mean_ci(d.final) if d.n >= 2 else None
        mean = fmt(float(np.mean(d.final)), 2, 100)
        half = "–" if ci is None else fmt((ci.high - ci.low) / 2, 2, 100)
        eps = "–" if d.eps is None else f"{d.eps:g}"
        rows.append([label(v), eps, datasets.get(d.net, d.net), f"{mean} ± {half}", _list(d.final), d.n])
    return (
        "Mean test accuracy (%) ± the half-width of Student's t 95 % interval, as the paper prints it, "
        "and every run's value.\n\n"
        + markdown_table(["variant", "eps", "data", "accuracy (%)", "runs (%)", "n"], rows)
    )


def _table_paper(
    table: dict[str, dict[float | None, tuple[tuple[float, float], ...]]],
    sets: tuple[str, ...],
    run: set[tuple[str, float | None]],
) -> str:
    """The paper's rows for the (activation, eps) pairs in ``run``, in the paper's order."""
    rows = []
    for act, by_eps in table.items():
        for eps, values in by_eps.items():
            if (act, eps) in run:
                rows.append([LABELS[act], "–" if eps is None else f"{eps:g}",
                             *(f"{m:.2f} ± {h:.2f}" for m, h in values)])  # fmt: skip
    return "As printed (%, 95 % CI, 4 runs):\n\n" + markdown_table(["method", "eps", *sets], rows)


def _list(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{100 * v:.2f}" for v in values) + "]"


# -- figures --------------------------------------------------------------------------------------


def _style(d: _Variant) -> dict[str, Any]:
    colors = {"selu": "#9467bd", "dselu": "#1f77b4", "sselu": "#d62728", "lselu": "#2ca02c"}
    return {"color": colors.get(d.act, "black"), "linestyle": "--" if d.tricks else "-"}


def _draw_curves(fig: MplFigure, data: dict[str, _Variant]) -> None:
    nets = [n for n in NETWORKS if any(d.net == n for d in data.values())]
    axes = fig.subplots(1, len(nets), squeeze=False)[0]
    for ax, net in zip(axes, nets, strict=True):
        for v, d in data.items():
            if d.net != net:
                continue
            acc = 100 * d.acc[:, ~np.isnan(d.acc).all(axis=0)]
            epochs = np.arange(1, acc.shape[1] + 1)
            ax.fill_between(
                epochs, np.nanmin(acc, 0), np.nanmax(acc, 0), color=_style(d)["color"], alpha=0.12
            )
            ax.plot(epochs, np.nanmedian(acc, 0), label=label(v), **_style(d))
        ax.set(title=NETWORKS[net], xlabel="epoch", ylabel="test accuracy (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)


def _draw_final(fig: MplFigure, data: dict[str, _Variant]) -> None:
    ax = fig.add_subplot()
    names = list(data)
    for i, v in enumerate(names):
        d = data[v]
        color = _style(d)["color"]
        ax.scatter(np.full(d.n, i), 100 * d.final, color=color, s=14, alpha=0.7)
        if d.n >= 2:
            ci = stats.mean_ci(d.final)
            ax.errorbar(i + 0.2, 100 * ci.estimate, yerr=[[100 * (ci.estimate - ci.low)],
                        [100 * (ci.high - ci.estimate)]], color=color, marker="s", capsize=3)  # fmt: skip
    ax.set_xticks(range(len(names)), [label(v) for v in names], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="test accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    if any(math.isfinite(x) for d in data.values() for x in d.final):
        ax.set_xlim(-0.5, len(names) - 0.3)


_loaded = load_preset(Path(__file__).with_suffix(".yaml"))
PRESET = register_preset(
    dataclasses.replace(_loaded, labels={v: label(v) for s in _loaded.scales for v in _loaded.variants_of(s)})
)
register_analysis(PRESET.name, Analysis(build=_build))
