"""Convention vs Swap with bounded activations ("Batch Normalization and Bounded Activation Functions").

The runs are in ``bnorder.yaml``: VGG16_11 with Tanh, LeCun Tanh, Softsign and ReLU in the block orders
Convention (conv -> BN -> act), Swap (conv -> act -> BN), NWDBN (Convention without weight decay on
BN's affine parameters) and NoBN, and Table 1's rows (section 7.1: VGG16_11 and MobileNet V1, Tanh and
ReLU, Convention and Swap) on CIFAR-10, CIFAR-100, Tiny ImageNet and ImageNet. The claims, each one
exact rank-sum test on one number per run, are in the YAML too. This module adds the paper's printed
numbers and what A.7 says of Table 1 (shown beside ours, never used as expectations), accuracy per
activation and order (Tables 1-2's shape; top-5 too on ImageNet) and layer saturation (sec. 3.1), mean
channel |skewness| (sec. 4.1) and block sparsity (sec. 5.2) per layer (Figures 3, 4, 9, 10, 13).
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from normact.experiments.analysis import Analysis, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns

ACTS = {"tanh": "Tanh", "lecun_tanh": "LeCun Tanh", "softsign": "Softsign", "relu": "ReLU"}
BOUNDED = ("tanh", "lecun_tanh", "softsign")
ORDERS = {"convention": "Convention", "swap": "Swap", "nwdbn": "NWDBN", "nobn": "NoBN"}
METRICS = {"saturation": "saturation", "skewness": "channel_skewness", "sparsity": "sparsity"}

# The paper's printed numbers (VGG16_11 on CIFAR-100, means over 3 seeds). Tables 1-2 are not legible
# in our copy of the text; these are the numbers its prose gives.
PAPER_ACCURACY = {"tanh_convention": 69.50, "tanh_nwdbn": 72.27}  # sec. 4.2 (%)
PAPER_SWAP_GAIN_TANH = 4.61  # sec. 3.1: Swap minus Convention, percentage points
PAPER_NOBN = {"tanh_convention": 64.84, "tanh_nobn": 61.06}  # A.2, a pair trained with other settings
PAPER_MAX_SATURATION = {"tanh_convention": 0.45, "tanh_swap": 0.86}  # sec. 3.1, the most saturated layer
PAPER_SPARSITY = {"tanh_convention": 0.717951, "tanh_nwdbn": 0.287974, "tanh_swap": 0.848927}  # sec. 5.2
PAPER_SKEWNESS_NOTE = (
    "Convention: channel |skewness| below 1 in every layer for all three bounded activations (A.5)"
)
# Table 1 (section 7.1) is not legible in our copy; A.7 says this of its rows.
PAPER_TABLE1_TANH = "Swap higher: 'every model with Swap order outperforms the Convention ordered models'"
PAPER_TABLE1_RELU = "Convention slightly higher, 'except for the ImageNet dataset on ReLU model'"
PAPER_TABLE1_RELU_IMAGENET = "Swap higher: the one exception, 'the ImageNet dataset on ReLU model'"
PAPER_TABLE1_MOBILENET = (
    "MobileNet: Tanh Swap higher 'on CIFAR and ImageNet datasets' (not said of Tiny ImageNet or VGG)"
)


def split_variant(variant: str) -> tuple[str, str]:
    """``"lecun_tanh_swap"`` -> ``("lecun_tanh", "swap")``; the order is the last ``_`` part."""
    act, _, order = variant.rpartition("_")
    if act not in ACTS or order not in ORDERS:
        raise ValueError(
            f"variant {variant!r} is not <activation>_<order> with {list(ACTS)} and {list(ORDERS)}"
        )
    return act, order


def label(variant: str) -> str:
    act, order = split_variant(variant)
    return f"{ACTS[act]} {ORDERS[order]}"


def layer_key(name: str) -> tuple[int, ...]:
    """Model order of a probed layer (``features.conv3_2.act``, ``blocks.block4.spatial``, ``conv3_2``):
    VGG's convolutions, then its ``fc`` layers; MobileNet's stem, then each block's spatial and
    pointwise convolutions."""
    short = short_layer(name)
    digits = map(int, re.findall(r"\d+", short))
    return (int(short.startswith("fc")), *digits, int(short.endswith(".pointwise")))


def short_layer(name: str) -> str:
    """``features.conv3_2.act`` -> ``conv3_2``; ``blocks.block4.spatial.act`` -> ``block4.spatial``."""
    parts = name.rpartition("/")[2].split(".")
    if parts[0] in ("features", "classifier", "blocks"):
        parts = parts[1:]
    return ".".join(parts[:-1] if len(parts) > 1 and parts[-1] == "act" else parts)


class Variant:
    """One variant's runs reduced to the numbers the tables and figures use.

    ``acc``, ``acc5``: last-epoch top-1 and top-5 test accuracy per run (``-inf`` for a diverged run,
    so that it ranks last).
    ``layers[m]``: ``{layer: last-epoch value per run}`` of metric m.
    """

    def __init__(self, runs: StudyRuns, variant: str) -> None:
        self.name = variant
        self.seeds = [r.seed for r in runs.runs[variant]]
        self.diverged = [r.seed for r in runs.runs[variant] if r.status == "diverged"]
        self.acc, self.acc5 = (
            np.where(np.isnan(last), -math.inf, last)
            for last in (runs.series(variant, key)[:, -1] for key in ("test_acc", "test_acc5"))
        )
        self.layers: dict[str, dict[str, np.ndarray]] = {}
        for metric, key in METRICS.items():
            family = runs.family(variant, key + "/")
            self.layers[metric] = {n: family[n][:, -1] for n in sorted(family, key=layer_key)}

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def act(self) -> str:
        return split_variant(self.name)[0]

    @property
    def order(self) -> str:
        return split_variant(self.name)[1]

    def acc_by_seed(self, top: int = 1) -> dict[int, float]:
        return dict(zip(self.seeds, self.acc5 if top == 5 else self.acc, strict=True))


def _build(runs: StudyRuns, report: Report) -> None:
    data = {v: Variant(runs, v) for v in runs.complete_variants()}
    model, dataset = runs.base.model.name, runs.base.data.name
    report.sections.append(Section(f"Test accuracy, ours ({runs.scale.name} scale)", _table_accuracy(data)))
    if dataset == "imagenet":  # top-5 beside top-1, as ImageNet tables give them
        report.sections.append(Section("Top-5 test accuracy, ours", _table_accuracy(data, top=5)))
    if {"tanh_convention", "tanh_swap", "relu_convention", "relu_swap"} <= set(data):
        table1 = _table_table1(data, model, dataset)
        report.sections.append(Section("Table 1 as the paper describes it (section 7.1, A.7)", table1))
    if model == "vgg16_11":
        report.sections.append(Section("The paper's numbers (VGG16_11, CIFAR-100)", _table_paper()))
    report.sections.append(Section("Per layer, Tanh (ours)", _table_layers(data, "tanh")))
    acts = [a for a in ACTS if any(d.act == a for d in data.values())]
    bounded = [a for a in acts if a in BOUNDED]
    layers = max((len(named) for d in data.values() for named in d.layers.values()), default=0)
    panel = max(4.0, 0.2 * layers)  # MobileNet's 27 layers need a wider panel than VGG16_11's 10
    report.figures += [
        Figure(
            "accuracy",
            "Last-epoch test accuracy of every run (dots) and the mean (bar)",
            lambda fig: _draw_accuracy(fig, data, acts),
            (10, 4),
        ),
        Figure(
            "saturation",
            "Figure 3: layer saturation at the last epoch, mean over runs",
            lambda fig: _draw_layers(fig, data, bounded, "saturation"),
            (panel * max(1, len(bounded)), 3.6),
        ),
        Figure(
            "skewness",
            "Figures 4, 9, 10, 13: mean channel |skewness| of each layer's activation outputs",
            lambda fig: _draw_layers(fig, data, acts, "skewness"),
            (panel * max(1, len(acts)), 3.6),
        ),
        Figure(
            "sparsity",
            "Block sparsity (sec. 5.2) of each block's output at the last epoch",
            lambda fig: _draw_layers(fig, data, acts, "sparsity"),
            (panel * max(1, len(acts)), 3.6),
        ),
    ]


def _mean_sd(x: np.ndarray, digits: int = 2, scale: float = 1.0) -> str:
    x = x[np.isfinite(x)]
    if not x.size:
        return "–"
    sd = f" ± {fmt(float(np.std(x, ddof=1)), digits, scale)}" if x.size > 1 else ""
    return fmt(float(np.mean(x)), digits, scale) + sd


def _table_accuracy(data: dict[str, Variant], top: int = 1) -> str:
    acts = [a for a in ACTS if any(d.act == a for d in data.values())]
    orders = [o for o in ORDERS if any(d.order == o for d in data.values())]
    rows = []
    for a in acts:
        row: list[Any] = [ACTS[a]]
        for o in orders:
            d = data.get(f"{a}_{o}")
            if d is None:
                row.append("not run")
                continue
            diverged = f", {len(d.diverged)} diverged" if d.diverged else ""
            row.append(f"{_mean_sd(d.acc5 if top == 5 else d.acc, 2, 100)} ({d.n}{diverged})")
        conv, swap = data.get(f"{a}_convention"), data.get(f"{a}_swap")
        row.append(_gain(_gains(conv, swap, top)))
        rows.append(row)
    return (
        f"Last-epoch {'top-5 ' if top == 5 else ''}test accuracy (%), mean ± standard deviation over the "
        "runs that did not diverge "
        "(number of runs); the last column is Swap minus Convention, mean of the per-seed differences "
        "(runs with the same seed share the data order).\n\n"
        + markdown_table(["activation", *(ORDERS[o] for o in orders), "Swap − Convention"], rows)
    )


def _gains(base: Variant | None, other: Variant | None, top: int = 1) -> np.ndarray:
    """``other`` minus ``base`` top-``top`` accuracy of each seed both have and neither diverged in
    (e.g. Swap minus Convention)."""
    if base is None or other is None:
        return np.array([])
    b, o = base.acc_by_seed(top), other.acc_by_seed(top)
    out = np.array([o[k] - b[k] for k in sorted(set(b) & set(o))])
    return out[np.isfinite(out)]


def _gain(g: np.ndarray) -> str:
    """The mean of :func:`_gains` in percentage points, signed."""
    return "–" if not g.size else f"{'+' if g.mean() >= 0 else ''}{fmt(float(g.mean()), 2, 100)} pp"


def _table_table1(data: dict[str, Variant], model: str, dataset: str) -> str:
    """Our differences beside what A.7 says of Table 1's row for ``model`` on ``dataset``."""
    relu = PAPER_TABLE1_RELU_IMAGENET if dataset == "imagenet" else PAPER_TABLE1_RELU
    comparisons = [
        ("Tanh Swap − Tanh Convention", "tanh_convention", "tanh_swap", PAPER_TABLE1_TANH),
        ("ReLU Swap − ReLU Convention", "relu_convention", "relu_swap", relu),
    ]
    if model == "mobilenet_v1":
        comparisons.append(
            ("Tanh Swap − ReLU Convention", "relu_convention", "tanh_swap", PAPER_TABLE1_MOBILENET)
        )
    rows = []
    for text, base, other, paper in comparisons:
        g = _gains(data[base], data[other])
        rows.append([text, paper, _gain(g), f"{int((g > 0).sum())} of {g.size}"])
    return (
        "Table 1's numbers are not legible in our copy; its appendix (A.7) describes them. Ours: the mean "
        "of the per-seed differences of last-epoch test accuracy, and the seeds where it is positive.\n\n"
        + markdown_table(["difference", "the paper (A.7)", "ours", "seeds > 0"], rows, "llrr")
    )


def _table_paper() -> str:
    rows = [
        ["Tanh Convention, accuracy (%)", f"{PAPER_ACCURACY['tanh_convention']:.2f}", "sec. 4.2"],
        ["Tanh NWDBN, accuracy (%)", f"{PAPER_ACCURACY['tanh_nwdbn']:.2f}", "sec. 4.2"],
        ["Tanh Swap − Convention (pp)", f"+{PAPER_SWAP_GAIN_TANH:.2f}", "sec. 3.1"],
        [
            "Tanh Convention / NoBN, accuracy (%), other settings",
            f"{PAPER_NOBN['tanh_convention']:.2f} / {PAPER_NOBN['tanh_nobn']:.2f}",
            "A.2",
        ],
        [
            "Tanh max layer saturation, Convention / Swap",
            f"{PAPER_MAX_SATURATION['tanh_convention']:.2f} / {PAPER_MAX_SATURATION['tanh_swap']:.2f}",
            "sec. 3.1",
        ],
        [
            "Tanh sparsity (mean over layers), Convention / NWDBN / Swap",
            " / ".join(f"{PAPER_SPARSITY[k]:.3f}" for k in ("tanh_convention", "tanh_nwdbn", "tanh_swap")),
            "sec. 5.2",
        ],
        ["Channel skewness", PAPER_SKEWNESS_NOTE, "A.5"],
    ]
    return (
        "As printed (3 seeds, 200 epochs, hyper-parameters chosen per model by a grid search). Tables 1-2 "
        "themselves are not legible in our copy; these are the numbers the text states.\n\n"
        + markdown_table(["quantity", "paper", "where"], rows, "lll")
    )


def _table_layers(data: dict[str, Variant], act: str) -> str:
    variants = [d for d in data.values() if d.act == act]
    if not variants:
        return f"No {ACTS[act]} runs."
    names = sorted({short_layer(n) for d in variants for m in METRICS for n in d.layers[m]}, key=layer_key)
    header = ["layer"]
    for metric in METRICS:
        header += [f"{metric[:4]}. {ORDERS[d.order]}" for d in variants]
    rows = []
    for name in names:
        row: list[Any] = [name]
        for metric in METRICS:
            for d in variants:
                values = {short_layer(k): v for k, v in d.layers[metric].items()}.get(name)
                row.append(
                    fmt(float(np.nanmean(values)), 3)
                    if values is not None and (~np.isnan(values)).any()
                    else "–"
                )
        rows.append(row)
    return (
        "Last-epoch value of each layer, mean over runs: saturation (satu.), channel |skewness| (skew.), "
        "sparsity (spar.).\n\n" + markdown_table(header, rows)
    )


# -- figures --------------------------------------------------------------------------------------

ORDER_STYLE = {
    "convention": {"color": "#1f77b4", "marker": "o", "linestyle": "-"},
    "swap": {"color": "#d62728", "marker": "s", "linestyle": "-"},
    "nwdbn": {"color": "#2ca02c", "marker": "^", "linestyle": "--"},
    "nobn": {"color": "#7f7f7f", "marker": "x", "linestyle": ":"},
}


def _draw_accuracy(fig: MplFigure, data: dict[str, Variant], acts: list[str]) -> None:
    ax = fig.add_subplot()
    orders = [o for o in ORDERS if any(d.order == o for d in data.values())]
    width = 0.8 / max(1, len(orders))
    for j, o in enumerate(orders):
        for i, a in enumerate(acts):
            d = data.get(f"{a}_{o}")
            if d is None:
                continue
            x = i + (j - (len(orders) - 1) / 2) * width
            acc = d.acc[np.isfinite(d.acc)] * 100
            if acc.size:
                ax.bar(
                    x,
                    acc.mean(),
                    width * 0.9,
                    color=ORDER_STYLE[o]["color"],
                    alpha=0.35,
                    label=ORDERS[o] if i == 0 else None,
                )
                ax.scatter(np.full(acc.size, x), acc, color=ORDER_STYLE[o]["color"], s=12, zorder=3)
    finite = np.concatenate([d.acc[np.isfinite(d.acc)] for d in data.values()]) * 100
    if finite.size:
        ax.set_ylim(max(0.0, finite.min() - 3), min(100.0, finite.max() + 1.5))
    ax.set_xticks(range(len(acts)), [ACTS[a] for a in acts])
    ax.set(ylabel="last-epoch test accuracy (%)")
    ax.legend(fontsize=8, ncols=len(orders))
    ax.grid(axis="y", alpha=0.3)


def _draw_layers(fig: MplFigure, data: dict[str, Variant], acts: list[str], metric: str) -> None:
    if not acts:
        return
    axes = np.atleast_1d(fig.subplots(1, len(acts)))  # own y scales: ReLU NoBN can dwarf the rest
    for ax, a in zip(axes, acts, strict=True):
        names: list[str] = []
        for o in ORDERS:
            d = data.get(f"{a}_{o}")
            if d is None or not d.layers[metric]:
                continue
            layers = d.layers[metric]
            names = [short_layer(n) for n in layers]
            with np.errstate(all="ignore"):
                means = [float(np.nanmean(v)) if (~np.isnan(v)).any() else math.nan for v in layers.values()]
            ax.plot(range(len(means)), means, label=ORDERS[o], **ORDER_STYLE[o])
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        ax.set(title=ACTS[a], xlabel="layer")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(
        {
            "saturation": "layer saturation",
            "skewness": "mean channel |skewness|",
            "sparsity": "block sparsity",
        }[metric]
    )
    axes[0].legend(fontsize=8)


_loaded = load_preset(Path(__file__).with_suffix(".yaml"))
PRESET = register_preset(
    dataclasses.replace(_loaded, labels={v: label(v) for s in _loaded.scales for v in _loaded.variants_of(s)})
)
register_analysis(
    PRESET.name, Analysis(build=_build, table=["accuracy", "saturation", "skewness", "sparsity"])
)
