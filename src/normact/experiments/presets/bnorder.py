"""Convention vs Swap with bounded activations ("Batch Normalization and Bounded Activation Functions").

The runs are in ``bnorder.yaml``: VGG16_11 with Tanh, LeCun Tanh, Softsign and ReLU in the block orders
Convention (conv -> BN -> act), Swap (conv -> act -> BN), NWDBN (Convention without weight decay on
BN's affine parameters) and NoBN. This module holds the paper's printed numbers (reference data shown
beside ours, never used as expectations), its claims and the analysis:

- accuracy (last epoch) per activation and order, beside Tables 1-2's legible entries;
- layer saturation (sec. 3.1), mean channel |skewness| (sec. 4.1) and block sparsity (sec. 5.2) at the
  last epoch, averaged over layers per run, and per layer (Figures 3, 4, 10, 13);
- verdicts: one exact one-sided rank-sum test per claim on one number per run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from normact.experiments import stats
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table, settings_table
from normact.experiments.results import StudyRuns
from normact.experiments.verdict import Verdict, decide

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

CLAIM_SWAP_ACC = "Swap is more accurate than Convention with {act}"
CLAIM_GAIN = "Swap's gain over Convention is larger with bounded activations than with ReLU"
CLAIM_SATURATION = "Swap layers are more saturated than Convention layers (Tanh, Fig. 3)"
CLAIM_SKEW = (
    "Swap layers are more asymmetrically saturated (channel |skewness|) than Convention layers (Tanh, Fig. 4)"
)
CLAIM_SKEW_OTHERS = "Swap raises channel |skewness| with LeCun Tanh and Softsign too (sec. 7.2, Fig. 13)"
CLAIM_SPARSITY = "Swap blocks are sparser than Convention blocks (Tanh, sec. 5.2)"
CLAIM_NWDBN_ACC = "NWDBN is more accurate than Convention (Tanh, sec. 4.2)"
CLAIM_NWDBN_SWAP = "NWDBN is less accurate than Swap (Tanh, sec. 5.2)"
CLAIM_NWDBN_SKEW = "NWDBN layers are more asymmetric than Convention layers (Tanh, sec. 4.2)"
CLAIM_NWDBN_SPARSITY = "NWDBN blocks are less sparse than Convention blocks (Tanh, sec. 5.2)"
CLAIM_NOBN_ACC = "NoBN is less accurate than Convention (Tanh, A.2)"
CLAIM_NOBN_SKEW = "NoBN layers are more asymmetric than Convention layers (Tanh, A.2, Fig. 10)"
CLAIMS = (
    *(CLAIM_SWAP_ACC.format(act=ACTS[a]) for a in BOUNDED),
    CLAIM_GAIN,
    CLAIM_SATURATION,
    CLAIM_SKEW,
    CLAIM_SKEW_OTHERS,
    CLAIM_SPARSITY,
    CLAIM_NWDBN_ACC,
    CLAIM_NWDBN_SWAP,
    CLAIM_NWDBN_SKEW,
    CLAIM_NWDBN_SPARSITY,
    CLAIM_NOBN_ACC,
    CLAIM_NOBN_SKEW,
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
    """Model order of a probed layer (``features.conv3_2.act`` or ``conv3_2``): convolutions, then ``fc``."""
    return (0 if "conv" in name else 1, *map(int, re.findall(r"\d+", name)))


def short_layer(name: str) -> str:
    """``features.conv3_2.act`` -> ``conv3_2``."""
    return name.split(".")[1] if "." in name else name


class Variant:
    """One variant's runs reduced to the numbers the tables, figures and verdicts use.

    ``acc``: last-epoch test accuracy per run (``-inf`` for a diverged run, so that it ranks last).
    ``layers[m]``: ``{layer: last-epoch value per run}`` of metric m; ``mean[m]``: its mean over layers per
    run (NaN where a run has none); ``peak[m]``: its largest layer value per run.
    """

    def __init__(self, runs: StudyRuns, variant: str) -> None:
        self.name = variant
        self.seeds = [r.seed for r in runs.runs[variant]]
        self.diverged = [r.seed for r in runs.runs[variant] if r.status == "diverged"]
        last = runs.series(variant, "test_acc")[:, -1]
        self.acc = np.where(np.isnan(last), -math.inf, last)
        self.layers: dict[str, dict[str, np.ndarray]] = {}
        self.mean: dict[str, np.ndarray] = {}
        self.peak: dict[str, np.ndarray] = {}
        for metric, key in METRICS.items():
            family = runs.family(variant, key + "/")
            names = sorted(family, key=layer_key)
            self.layers[metric] = {n: family[n][:, -1] for n in names}
            per_run = [np.array([self.layers[metric][n][i] for n in names]) for i in range(self.n)]
            per_run = [v[~np.isnan(v)] for v in per_run]
            self.mean[metric] = np.array([v.mean() if v.size else np.nan for v in per_run])
            self.peak[metric] = np.array([v.max() if v.size else np.nan for v in per_run])

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def act(self) -> str:
        return split_variant(self.name)[0]

    @property
    def order(self) -> str:
        return split_variant(self.name)[1]

    def acc_by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.acc, strict=True))


def analyze(runs: StudyRuns) -> Report:
    """Accuracy and metric tables, per-layer figures and the verdicts from the runs of one scale."""
    data = {v: Variant(runs, v) for v in runs.complete_variants()}
    report = Report.for_runs(runs, _summary(runs, data))
    report.verdicts = _verdicts(data)
    report.sections = [
        Section(f"Test accuracy, ours ({runs.scale.name} scale)", _table_accuracy(data)),
        Section("Saturation, skewness and sparsity per variant (ours)", _table_metrics(data)),
        Section("The paper's numbers (VGG16_11, CIFAR-100)", _table_paper()),
        Section("Per layer, Tanh (ours)", _table_layers(data, "tanh")),
        Section("Settings", settings_table(runs) + "\n\n" + runs.scale.notes),
    ]
    acts = [a for a in ACTS if any(d.act == a for d in data.values())]
    bounded = [a for a in acts if a in BOUNDED]
    report.figures = [
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
            (4 * max(1, len(bounded)), 3.6),
        ),
        Figure(
            "skewness",
            "Figures 4, 10, 13: mean channel |skewness| of each layer's activation outputs",
            lambda fig: _draw_layers(fig, data, acts, "skewness"),
            (4 * max(1, len(acts)), 3.6),
        ),
        Figure(
            "sparsity",
            "Block sparsity (sec. 5.2) of each block's output at the last epoch",
            lambda fig: _draw_layers(fig, data, acts, "sparsity"),
            (4 * max(1, len(acts)), 3.6),
        ),
    ]
    return report


def _summary(runs: StudyRuns, data: dict[str, Variant]) -> str:
    parts = [
        runs.count_text("variants") + " Every number is measured after the last epoch; a run's saturation, "
        "skewness and sparsity are means over its layers."
    ]
    diverged = {label(v): d.diverged for v, d in data.items() if d.diverged}
    if diverged:
        parts.append(
            "Diverged (ranked last in accuracy, left out of the other metrics): "
            + ", ".join(f"{k} seeds {s}" for k, s in diverged.items())
            + "."
        )
    parts.append(runs.status_text(label))
    return " ".join(parts)


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def _mean_sd(x: np.ndarray, digits: int = 2, scale: float = 1.0) -> str:
    x = _finite(x)
    if not x.size:
        return "–"
    sd = f" ± {fmt(float(np.std(x, ddof=1)), digits, scale)}" if x.size > 1 else ""
    return fmt(float(np.mean(x)), digits, scale) + sd


def _table_accuracy(data: dict[str, Variant]) -> str:
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
            row.append(f"{_mean_sd(d.acc, 2, 100)} ({d.n}{diverged})")
        conv, swap = data.get(f"{a}_convention"), data.get(f"{a}_swap")
        row.append(_gain(conv, swap))
        rows.append(row)
    return (
        "Last-epoch test accuracy (%), mean ± standard deviation over the runs that did not diverge "
        "(number of runs); the last column is Swap minus Convention, mean of the per-seed differences "
        "(runs with the same seed share the data order).\n\n"
        + markdown_table(["activation", *(ORDERS[o] for o in orders), "Swap − Convention"], rows)
    )


def _gains(conv: Variant | None, swap: Variant | None) -> np.ndarray:
    """Swap minus Convention accuracy of each seed both have (NaN where either diverged)."""
    if conv is None or swap is None:
        return np.array([])
    c, s = conv.acc_by_seed(), swap.acc_by_seed()
    out = np.array([s[k] - c[k] for k in sorted(set(c) & set(s))])
    return np.where(np.isfinite(out), out, np.nan)


def _gain(conv: Variant | None, swap: Variant | None) -> str:
    g = _gains(conv, swap)
    g = g[~np.isnan(g)]
    return "–" if not g.size else f"{'+' if g.mean() >= 0 else ''}{fmt(float(g.mean()), 2, 100)} pp"


def _table_metrics(data: dict[str, Variant]) -> str:
    rows = [
        [
            label(v),
            _mean_sd(d.acc, 2, 100),
            _mean_sd(d.mean["saturation"], 3),
            _mean_sd(d.peak["saturation"], 3),
            _mean_sd(d.mean["skewness"], 3),
            _mean_sd(d.mean["sparsity"], 3),
            d.n,
        ]
        for v, d in data.items()
    ]
    header = [
        "variant",
        "accuracy (%)",
        "saturation",
        "max saturation",
        "channel |skewness|",
        "sparsity",
        "runs",
    ]
    return (
        "Mean ± standard deviation over runs of each run's mean over layers (max saturation: its most "
        "saturated layer). Saturation and skewness are measured on the activation outputs, sparsity on the "
        "block outputs (after BN in Swap, after the activation otherwise); ReLU has no asymptote, so no "
        "saturation.\n\n" + markdown_table(header, rows)
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


# -- verdicts -------------------------------------------------------------------------------------


def _compare(
    claim: str, high: Sequence[Variant], low: Sequence[Variant], what: str, values: str, scale: float = 1.0
) -> Verdict | None:
    """Claim "``high`` > ``low``" on per-run numbers ``values`` ("acc" or a metric's layer mean)."""

    def pick(d: Variant) -> np.ndarray:
        x = d.acc if values == "acc" else d.mean[values]
        return x[~np.isnan(x)]

    a = np.concatenate([pick(d) for d in high]) if high else np.array([])
    b = np.concatenate([pick(d) for d in low]) if low else np.array([])
    if not (a.size and b.size):
        return None
    digits = 2 if values == "acc" else 3

    def show(group: Sequence[Variant]) -> str:
        return "; ".join(f"{label(d.name)} {_list(pick(d), digits, scale)}" for d in group)

    evidence = f"{what}: {show(high)} against {show(low)}; exact rank-sum test"
    if len(high) > 1 or len(low) > 1:
        evidence += " on the pooled runs"
    p_for = stats.rank_sum_test(a, b, "greater")
    p_against = stats.rank_sum_test(a, b, "less")
    needed = stats.n_for_rank_sum(stats.probability_of_superiority(b, a))
    return decide(claim, p_for, p_against, evidence, needed)


def _list(x: np.ndarray, digits: int, scale: float) -> str:
    return "[" + ", ".join("diverged" if math.isinf(v) else fmt(float(v), digits, scale) for v in x) + "]"


def _verdicts(data: dict[str, Variant]) -> list[Verdict]:
    def get(*names: str) -> list[Variant]:
        return [data[n] for n in names if n in data]

    acc = "last-epoch test accuracy (%)"
    out: list[Verdict | None] = []
    for a in BOUNDED:
        claim = CLAIM_SWAP_ACC.format(act=ACTS[a])
        out.append(_compare(claim, get(f"{a}_swap"), get(f"{a}_convention"), acc, "acc", 100))
    out.append(_gain_verdict(data))
    out += [
        _compare(
            CLAIM_SATURATION, get("tanh_swap"), get("tanh_convention"), "mean layer saturation", "saturation"
        ),
        _compare(CLAIM_SKEW, get("tanh_swap"), get("tanh_convention"), "mean channel |skewness|", "skewness"),
        _compare(
            CLAIM_SKEW_OTHERS,
            get("lecun_tanh_swap", "softsign_swap"),
            get("lecun_tanh_convention", "softsign_convention"),
            "mean channel |skewness|",
            "skewness",
        ),
        _compare(CLAIM_SPARSITY, get("tanh_swap"), get("tanh_convention"), "mean block sparsity", "sparsity"),
        _compare(CLAIM_NWDBN_ACC, get("tanh_nwdbn"), get("tanh_convention"), acc, "acc", 100),
        _compare(CLAIM_NWDBN_SWAP, get("tanh_swap"), get("tanh_nwdbn"), acc, "acc", 100),
        _compare(
            CLAIM_NWDBN_SKEW, get("tanh_nwdbn"), get("tanh_convention"), "mean channel |skewness|", "skewness"
        ),
        _compare(
            CLAIM_NWDBN_SPARSITY, get("tanh_convention"), get("tanh_nwdbn"), "mean block sparsity", "sparsity"
        ),
        _compare(CLAIM_NOBN_ACC, get("tanh_convention"), get("tanh_nobn"), acc, "acc", 100),
        _compare(
            CLAIM_NOBN_SKEW, get("tanh_nobn"), get("tanh_convention"), "mean channel |skewness|", "skewness"
        ),
    ]
    return [v for v in out if v is not None]


def _gain_verdict(data: dict[str, Variant]) -> Verdict | None:
    bounded = {a: _gains(data.get(f"{a}_convention"), data.get(f"{a}_swap")) for a in BOUNDED}
    bounded = {a: g[~np.isnan(g)] for a, g in bounded.items() if g.size}
    relu = _gains(data.get("relu_convention"), data.get("relu_swap"))
    relu = relu[~np.isnan(relu)]
    if not (bounded and relu.size):
        return None
    pooled = np.concatenate(list(bounded.values()))
    if not pooled.size:
        return None
    shown = "; ".join(f"{ACTS[a]} {_list(g, 2, 100)}" for a, g in bounded.items())
    evidence = (
        f"Swap minus Convention accuracy per seed (pp): {shown} against ReLU {_list(relu, 2, 100)}; exact "
        "rank-sum test of the pooled bounded-activation gains against ReLU's"
    )
    p_for = stats.rank_sum_test(pooled, relu, "greater")
    p_against = stats.rank_sum_test(pooled, relu, "less")
    needed = stats.n_for_rank_sum(stats.probability_of_superiority(relu, pooled))
    return decide(CLAIM_GAIN, p_for, p_against, evidence, needed)


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
            acc = _finite(d.acc) * 100
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
    finite = np.concatenate([_finite(d.acc) for d in data.values()]) * 100
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


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml"), CLAIMS, analyze))
