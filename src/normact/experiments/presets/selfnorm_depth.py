"""The self-normalization paper's signal study (section 6.1, Figure 4): stability through 56 layers.

The runs are in ``selfnorm_depth.yaml``: the 56-layer serial CNN with SELU, dSELU, sSELU and lSELU
(eps = 0.017, solved by ``normact.theory.solve``), trained briefly at a high learning rate, with the
``step_signals`` probe recording every few iterations the second moment E[h_l^2] of each convolution's
output (the pre-activation) and the Frobenius norm of each convolution's weight gradient, and at the
first iteration the mean-field prediction of E[h_l^2]. The claims are in the YAML too; this module
holds the paper's printed parameters (Table 5; reference data, never expectations) and the measures of
stability, which no other preset computes.

Stability, as measured here: ``DEFINITIONS`` below (the report prints it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator
from torch import nn

from normact import theory
from normact.experiments.analysis import Analysis, register_analysis
from normact.experiments.preset import load_preset, register_preset
from normact.experiments.report import Figure, Report, Section, fmt, markdown_table
from normact.experiments.results import StudyRuns
from normact.probes.callbacks import StepSignals
from normact.train import with_overrides
from normact.train.loop import build_model

COLORS = {"selu": "#9467bd", "dselu": "#1f77b4", "sselu": "#d62728", "lselu": "#2ca02c"}

# The paper's Table 5, 56-layer CNN rows used here: (eps, lam, alpha, beta, gamma_{q=1}).
PAPER_TABLE5: dict[str, tuple[float | None, float, float, float | None, float]] = {
    "selu": (None, 1.05, 1.67, None, 0.806),
    "dselu": (0.017, 1.34, 0.64, None, 0.954),
    "sselu": (0.017, 1.00, 3.28, 0.41, 0.881),
    "lselu": (0.017, 1.00, 0.86, 0.55, 0.890),
}


def step_signal(
    metrics: dict[str, np.ndarray], prefix: str, layers: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of a step probe's family ``prefix`` (``<prefix><layer>@<step>``) in one run.

    ``values`` has shape ``(steps, layers)``, NaN where a layer has no value at a step.
    """
    found: dict[int, dict[str, float]] = {}
    for key, series in metrics.items():
        if not key.startswith(prefix):
            continue
        layer, _, step = key[len(prefix) :].rpartition("@")
        present = series[~np.isnan(series)]
        if present.size:
            found.setdefault(int(step), {})[layer] = float(present[-1])
    steps = np.array(sorted(found), dtype=np.int64)
    values = np.array([[found[s].get(layer, np.nan) for layer in layers] for s in steps]).reshape(
        len(steps), len(layers)
    )
    return steps, values


def stability(q: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """The stability measures of one run from ``q`` and ``g``, each ``(steps, layers)`` (module doc)."""
    lq, lg = np.log(q), np.log(g)
    return {
        "fwd_dev": float(np.mean(np.abs(lq))),
        "fwd_spread": float(np.mean(np.std(lq, axis=1))),
        "fwd_drift": float(np.mean(np.abs(lq[-1] - lq[0]))),
        "bwd_spread": float(np.mean(np.std(lg, axis=1))),
        "bwd_drift": float(np.mean(np.std(lg, axis=0))),
    }


def activation_constants(runs: StudyRuns, variant: str) -> dict[str, Any]:
    """eps, lam, alpha, beta and gamma_{q=1} of a variant's activation, from the solver."""
    model = with_overrides(runs.base, runs.preset.variants_of(runs.scale.name)[variant]).model
    eps = (model.kwargs.get("act_kwargs") or {}).get("eps")
    if model.act == "selu":
        act = theory.get_activation("selu")
        return {"eps": theory.delta(act), "lam": theory.SELU_LAMBDA, "alpha": theory.SELU_ALPHA, "beta": None,
                "gamma": theory.gamma(act)}  # fmt: skip
    sol = theory.solve(model.act, float(eps))
    return {"eps": eps, "lam": sol.lam, "alpha": sol.alpha, "beta": sol.beta, "gamma": sol.gamma}


def conv_layers(runs: StudyRuns, variant: str) -> list[str]:
    """Names of the variant's convolutions in depth order (the model built for the scale's input)."""
    cfg = with_overrides(runs.base, runs.preset.variants_of(runs.scale.name)[variant]).model
    a = runs.scale.analysis
    model = build_model(cfg, int(a["num_classes"]), tuple(a["input_shape"]))
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def iid_control(runs: StudyRuns, variant: str, seed: int, layers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and measured E[h_l^2] of the run's initial network on i.i.d. inputs (mean field's setting).

    The initial network is rebuilt as the runner builds it (``torch.manual_seed(seed)``, then the
    model); the input is a batch of 64 independent random signs, whose second moment is 1 at every
    position. The ``step_signals`` probe does the measurement and the prediction.
    """
    a = runs.scale.analysis
    cfg = with_overrides(runs.base, runs.preset.variants_of(runs.scale.name)[variant]).model
    torch.manual_seed(seed)
    model = build_model(cfg, int(a["num_classes"]), tuple(a["input_shape"])).eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (64, *a["input_shape"]), generator=gen).float() * 2 - 1
    probe = StepSignals(every=1, where=nn.Conv2d, theory=True)
    probe.on_train_step(model, 1, x, torch.zeros(64, dtype=torch.long))
    out = probe.on_epoch_end(model, 1, [])
    predicted = np.array([out[f"second_moment_theory/{layer}"] for layer in layers])
    measured = np.array([out[f"step_second_moment/{layer}@1"] for layer in layers])
    return predicted, measured


class _Variant:
    """One activation's runs: per-iteration signals, stability measures, the prediction at init."""

    def __init__(self, runs: StudyRuns, variant: str) -> None:
        self.name = variant
        self.layers = conv_layers(runs, variant)
        self.seeds, self.steps, self.q, self.g, self.theory = [], [], [], [], []
        for run in runs.runs[variant]:
            steps, q = step_signal(run.metrics, "step_second_moment/", self.layers)
            _, g = step_signal(run.metrics, "step_grad_norm/", self.layers)
            keep = np.isfinite(np.log(q)).all(axis=1) & np.isfinite(np.log(g)).all(axis=1)
            if not keep.any():
                continue
            self.seeds.append(run.seed)
            self.steps.append(steps[keep])
            self.q.append(q[keep])
            self.g.append(g[keep])
            pred = [run.metrics.get(f"second_moment_theory/{layer}") for layer in self.layers]
            self.theory.append(np.array([np.nanmax(p) if p is not None else np.nan for p in pred]))
        self.constants = activation_constants(runs, variant)
        first = runs.runs[variant][0].seed
        self.control = iid_control(runs, variant, first, self.layers)

    @property
    def n(self) -> int:
        """Runs with signals."""
        return len(self.seeds)


def run_measures(runs: StudyRuns, variant: str) -> list[dict[str, float] | None]:
    """Per run (seed order): its stability measures; None for a run without any finite signal."""
    layers = conv_layers(runs, variant)
    out: list[dict[str, float] | None] = []
    for run in runs.runs[variant]:
        _, q = step_signal(run.metrics, "step_second_moment/", layers)
        _, g = step_signal(run.metrics, "step_grad_norm/", layers)
        keep = np.isfinite(np.log(q)).all(axis=1) & np.isfinite(np.log(g)).all(axis=1)
        out.append(stability(q[keep], g[keep]) if keep.any() else None)
    return out


def _measure(key: str) -> Any:
    def per_run(runs: StudyRuns, variant: str) -> np.ndarray:
        return np.array([math.nan if m is None else m[key] for m in run_measures(runs, variant)])

    return per_run


STABILITY = ("fwd_dev", "fwd_spread", "fwd_drift", "bwd_spread", "bwd_drift")


def gamma(runs: StudyRuns, variant: str) -> np.ndarray:
    """gamma_{q=1} of the variant's activation, once per run."""
    return np.full(len(runs.runs[variant]), activation_constants(runs, variant)["gamma"])


def _build(runs: StudyRuns, report: Report) -> None:
    data = {v: _Variant(runs, v) for v in runs.complete_variants()}
    report.sections += [
        Section("Stability of the signals, as measured here", DEFINITIONS),
        Section("Theory at initialisation", _table_theory(runs, data)),
        Section("Parameters: our solver beside the paper's Table 5", _table_params(runs, data)),
    ]
    report.figures += [
        Figure(
            "figure4",
            "Figure 4: per convolution, the median (line) and the 5-95 % range (band) over iterations and "
            "seeds of E[h^2] (top) and of ||dL/dW||_F (bottom)",
            lambda fig: _draw_figure4(fig, runs, data),
            (13, 6),
        ),
        Figure(
            "second_moment_depth",
            "E[h_l^2] at initialisation through the 56-layer CNN: mean-field prediction (line) and "
            "measurement (markers), on the first training batch of the first run with signals (left) and "
            "on i.i.d. random-sign inputs through the first run's initial network (right)",
            lambda fig: _draw_theory(fig, runs, data),
            (11, 4.5),
        ),
        Figure(
            "stability_over_iterations",
            "Median over seeds of the forward deviation mean_l |ln q_l(t)| (left) and of the backward "
            "spread std_l ln g_l(t) (right) at each recorded iteration",
            lambda fig: _draw_over_iterations(fig, runs, data),
            (11, 4),
        ),
    ]


DEFINITIONS = (
    "**Stability, as measured here** (per run, q_l(t) = E[h_l^2] and g_l(t) = ||dL/dW_l||_F of "
    "convolution l at recorded iteration t): the *forward deviation* mean_{t,l} |ln q_l(t)| is the "
    "distance of the second moment from the fixed point q = 1 across depth and iterations; it has "
    "two parts, the *spread across depth* mean_t std_l ln q_l(t) and the *drift* mean_l |ln q_l(T) - "
    "ln q_l(1)| from the initial weights to the last iteration. The *backward spread* mean_t std_l "
    "ln g_l(t) says how unequal the gradient norms are across depth (a gradient that explodes layer "
    "by layer spreads them); the *backward drift* mean_l std_t ln g_l(t) how much each layer's "
    "gradient norm moves over iterations. Lower is more stable for all five. A diverged run counts as "
    "∞, the least stable, in the table and the tests; the figures show its signals up to the epoch "
    "before the divergence (the runner keeps no metric of the epoch in which a run diverges)."
)


def _table_theory(runs: StudyRuns, data: dict[str, _Variant]) -> str:
    rows = []
    for v, d in data.items():
        if not d.n:
            continue
        ratios = np.concatenate([q[0] / t for q, t in zip(d.q, d.theory, strict=True)])
        ratios = np.abs(np.log(ratios[np.isfinite(ratios)]))
        if not ratios.size:
            continue
        predicted, measured = d.control
        iid = np.abs(np.log(measured / predicted))
        rows.append(
            [
                runs.preset.label(v),
                f"{np.median(ratios):.3f}",
                f"{np.max(ratios):.3f}",
                f"{np.median(iid):.3f}",
                f"{np.max(iid):.3f}",
                f"{fmt(float(np.median([t[-1] for t in d.theory])), 3)} / "
                f"{fmt(float(np.median([q[0][-1] for q in d.q])), 3)}",
            ]
        )
    return (
        "Mean-field prediction of E[h_l^2] (normact.probes.predict_second_moments: each run's initial "
        "weights, the input's second moment per position, zero padding followed exactly) against the "
        "measurement, over every convolution: on the first training batch at iteration 1 (every seed), "
        "and, as a control, on a batch of 64 i.i.d. random-sign inputs through the first run's initial "
        "network (the inputs mean-field theory assumes). Mean-field theory is exact for infinitely wide "
        "layers; with 16 to 64 filters a single network deviates from it, and a batch of images adds the "
        "correlation between neighbouring pixels, which the theory ignores. The second moment falls in "
        "the last stages because zero padding on 14x14 and 7x7 maps feeds the border outputs fewer "
        "inputs; the theory follows that fall.\n\n"
        + markdown_table(
            [
                "activation",
                "training batch: median |ln(measured / predicted)|",
                "max",
                "i.i.d. inputs: median |ln ratio|",
                "max",
                "last conv, training batch: predicted / measured",
            ],
            rows,
        )
    )


def _table_params(runs: StudyRuns, data: dict[str, _Variant]) -> str:
    rows = []
    for v, d in data.items():
        c = d.constants
        p = PAPER_TABLE5.get(v)
        ours = [fmt(c["eps"], 4), fmt(c["lam"], 4), fmt(c["alpha"], 4),
                "–" if c["beta"] is None else fmt(c["beta"], 4), fmt(c["gamma"], 4)]  # fmt: skip
        paper = ["–"] * 5 if p is None else [
            "–" if x is None else f"{x:g}" for x in p
        ]  # fmt: skip
        rows.append([runs.preset.label(v), *ours, *paper])
    header = ["activation", "eps", "lam", "alpha", "beta", "gamma_{q=1}",
              "paper eps", "paper lam", "paper alpha", "paper beta", "paper gamma"]  # fmt: skip
    return (
        "Ours: normact.theory.solve (eq. 11; SELU: its own constants, eps = delta_{q=1}). The paper's "
        "Table 5 as printed (two decimals).\n\n" + markdown_table(header, rows)
    )


# -- figures --------------------------------------------------------------------------------------


def _band(ax: Any, values: list[np.ndarray], color: str) -> None:
    pooled = np.concatenate(values, axis=0)  # (iterations of every seed, layers)
    depth = np.arange(1, pooled.shape[1] + 1)
    lo, mid, hi = np.nanpercentile(pooled, [5, 50, 95], axis=0)
    ax.fill_between(depth, lo, hi, color=color, alpha=0.25, linewidth=0)
    ax.plot(depth, mid, color=color, linewidth=1.6)


def _draw_figure4(fig: MplFigure, runs: StudyRuns, data: dict[str, _Variant]) -> None:
    data = {v: d for v, d in data.items() if d.n}
    axes = fig.subplots(2, len(data), sharex=True, sharey="row", squeeze=False)
    for col, (v, d) in enumerate(data.items()):
        top, bottom = axes[0, col], axes[1, col]
        _band(top, d.q, COLORS.get(v, "black"))
        _band(bottom, d.g, COLORS.get(v, "black"))
        top.axhline(1.0, color="black", linewidth=0.7, alpha=0.5)
        top.set(title=f"{runs.preset.label(v)} (gamma {d.constants['gamma']:.3f})", yscale="log")
        bottom.set(xlabel="convolution l", yscale="log")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("E[h_l^2]")
    axes[1, 0].set_ylabel("||dL/dW_l||_F")


def _draw_theory(fig: MplFigure, runs: StudyRuns, data: dict[str, _Variant]) -> None:
    left, right = fig.subplots(1, 2, sharey=True)
    for v, d in data.items():
        depth = np.arange(1, len(d.layers) + 1)
        color = COLORS.get(v, "black")
        if d.n:
            name = runs.preset.label(v)
            left.plot(depth, d.theory[0], "-", color=color, linewidth=1.4, label=f"{name} theory")
            left.plot(depth, d.q[0][0], "o", color=color, markersize=3, label=f"{name} measured")
        predicted, measured = d.control
        right.plot(depth, predicted, "-", color=color, linewidth=1.4)
        right.plot(depth, measured, "o", color=color, markersize=3)
    left.set(xlabel="convolution l", ylabel="E[h_l^2] at initialisation", title="first training batch")
    right.set(xlabel="convolution l", title="i.i.d. random-sign inputs (control)")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    left.legend(fontsize=7, ncols=2)


def _draw_over_iterations(fig: MplFigure, runs: StudyRuns, data: dict[str, _Variant]) -> None:
    left, right = fig.subplots(1, 2)
    for v, d in data.items():
        if not d.n:
            continue
        n = min(len(s) for s in d.steps)
        steps = d.steps[0][:n]
        dev = np.median([np.mean(np.abs(np.log(q[:n])), axis=1) for q in d.q], axis=0)
        spread = np.median([np.std(np.log(g[:n]), axis=1) for g in d.g], axis=0)
        left.plot(steps, dev, color=COLORS.get(v, "black"), label=runs.preset.label(v))
        right.plot(steps, spread, color=COLORS.get(v, "black"), label=runs.preset.label(v))
    left.set(xlabel="iteration", ylabel="mean_l |ln E[h_l^2]|", title="forward deviation")
    right.set(xlabel="iteration", ylabel="std_l ln ||dL/dW_l||_F", title="backward spread")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


PRESET = register_preset(load_preset(Path(__file__).with_suffix(".yaml")))
register_analysis(
    PRESET.name,
    Analysis(
        measures={"gamma": gamma, **{k: _measure(k) for k in STABILITY}},
        table=["gamma", *STABILITY],
        build=_build,
    ),
)
