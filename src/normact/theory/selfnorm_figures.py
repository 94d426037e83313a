"""The self-normalization paper's Figures 2, 3, 5 and 6: the numbers each plots, and the drawing.

* Figure 2: 1 + delta_q = q phi(q) / E_{N(0, q)}[f^2] (eq. 2) against q for dSELU, sSELU and lSELU solved
  at several eps; at q = 1 it is 1 + eps.
* Figure 3: |E[f(x)]|, x ~ N(mu, sigma^2) (eq. 12), against mu for several sigma^2, for SELU and the
  three families at eps = 0.06 (the paper's ImageNet setting): by quadrature (solid) and by Monte Carlo
  (dashed), as the paper draws theory beside simulation.
* Figure 5: the distribution of the outputs of layers 1, 4, 16 and 64 of a 64-layer fully connected
  network at initialisation (W ~ N(0, 1/N), inputs N(0, 1)), sSELU and lSELU solved with lam >= 1 and
  with lam >= 0.5 (appendix A.4), by simulating the forward pass in numpy.
* Figure 6: the largest 1 + delta_q over q in (0, 2] against lam (appendix A.4), for the member of each
  family with that lam: the solver with ``lam_min = lam`` where that bound is active.

Each ``*_data`` function returns the plotted numbers (the tests check them); each ``plot_*`` draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from normact.theory.activations import Activation, get_activation
from normact.theory.quantities import delta, moments
from normact.theory.solver import solve

__all__ = [
    "delta_curves_data",
    "layer_outputs_data",
    "max_delta_data",
    "mean_shift_data",
    "plot_delta_curves",
    "plot_layer_outputs",
    "plot_max_delta",
    "plot_mean_shift",
]

FAMILY_LABELS = {"selu": "SELU", "dselu": "dSELU", "sselu": "sSELU", "lselu": "lSELU"}


def delta_curves_data(
    eps: Sequence[float] = (0.01, 0.017, 0.03, 0.05, 0.07),
    families: Sequence[str] = ("dselu", "sselu", "lselu"),
    qs: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, dict[float, np.ndarray]]]:
    """Figure 2: q and 1 + delta_q of each family's optimum (`solve`) at each eps, by family and eps."""
    qs = np.linspace(0.05, 3.0, 45) if qs is None else np.asarray(qs, dtype=float)
    curves = {}
    for fam in families:
        curves[fam] = {e: np.array([1.0 + delta(solve(fam, e).activation(), q) for q in qs]) for e in eps}
    return qs, curves


def _figure3_activations(eps: float) -> dict[str, Activation]:
    acts = {"SELU": get_activation("selu")}
    for fam in ("dselu", "sselu", "lselu"):
        acts[f"{FAMILY_LABELS[fam]} (eps={eps:g})"] = solve(fam, eps).activation()
    return acts


def mean_shift_data(
    eps: float = 0.06,
    variances: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    mus: np.ndarray | None = None,
    samples: int = 20000,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Figure 3: mu and, per activation, |E[f(x)]| for x ~ N(mu, sigma^2) as (quadrature, Monte Carlo).

    Each array is (len(variances), len(mus)); the Monte Carlo estimate averages f over ``samples`` draws
    (the same standard normal draws for every mu and sigma, seeded).
    """
    mus = np.linspace(-1.0, 1.0, 41) if mus is None else np.asarray(mus, dtype=float)
    z = np.random.default_rng(seed).standard_normal(samples)
    out = {}
    for name, act in _figure3_activations(eps).items():
        exact = np.array([[abs(moments(act, mu, np.sqrt(v)).mean) for mu in mus] for v in variances])
        sampled = np.array([[abs(np.mean(act.f(mu + np.sqrt(v) * z))) for mu in mus] for v in variances])
        out[name] = (exact, sampled)
    return mus, out


def layer_outputs_data(
    eps: float = 0.03,
    lam_mins: Sequence[float] = (1.0, 0.5),
    families: Sequence[str] = ("sselu", "lselu"),
    depth: int = 64,
    width: int = 256,
    samples: int = 128,
    layers: Sequence[int] = (1, 4, 16, 64),
    bins: np.ndarray | None = None,
    seed: int = 0,
) -> dict[tuple[str, float], dict[str, object]]:
    """Figure 5: a 64-layer fully connected network's output activations at initialisation, simulated.

    Inputs x_0 ~ N(0, I) of ``width`` units, ``samples`` of them; layer l computes x_l = f(W_l x_{l-1})
    with W_l ~ N(0, 1/width) i.i.d. (the paper's initialisation). Each (family, lam_min) runs the same
    inputs and weights. Returns, per (family, lam_min): ``lam`` (the solved lam), ``bins`` (edges),
    and per layer in ``layers`` the ``density`` on the bins (values outside clipped into the end bins),
    the ``mean`` and the ``std`` of all its outputs.
    """
    bins = np.linspace(-2.0, 4.0, 61) if bins is None else np.asarray(bins, dtype=float)
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((samples, width))
    weights = [rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(depth)]
    out = {}
    for fam in families:
        for lam_min in lam_mins:
            sol = solve(fam, eps, lam_min=lam_min)
            act, x = sol.activation(), x0
            per_layer = {}
            for layer, w in enumerate(weights, start=1):
                x = act.f(x @ w.T)
                if layer in layers:
                    density, _ = np.histogram(np.clip(x, bins[0], bins[-1]), bins=bins, density=True)
                    per_layer[layer] = {"density": density, "mean": float(x.mean()), "std": float(x.std())}
            out[(fam, lam_min)] = {"lam": sol.lam, "bins": bins, "layers": per_layer}
    return out


def max_delta_data(
    eps: float = 0.03,
    families: Sequence[str] = ("sselu", "lselu"),
    lams: np.ndarray | None = None,
    qs: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Figure 6: lam and, per family, max over q in (0, 2] of 1 + delta_q of the member with that lam.

    The member is ``solve(family, eps, lam_min=lam)`` where the bound is active (the optimum would take a
    smaller lam); NaN where it is not (the optimum's lam is then larger) or where no member reaches lam.
    """
    lams = np.linspace(0.5, 1.1, 13) if lams is None else np.asarray(lams, dtype=float)
    qs = np.linspace(0.02, 2.0, 100) if qs is None else np.asarray(qs, dtype=float)
    out = {}
    for fam in families:
        values = []
        for lam in lams:
            try:
                sol = solve(fam, eps, lam_min=float(lam))
            except ValueError:  # lam above the largest the family reaches at this eps
                values.append(np.nan)
                continue
            act = sol.activation()
            values.append(max(1.0 + delta(act, q) for q in qs) if sol.lam_at_bound else np.nan)
        out[fam] = np.array(values)
    return lams, out


# --- drawing ------------------------------------------------------------------------------------------


def _save(fig, path: str | Path) -> Path:
    from matplotlib import pyplot as plt

    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _subplots(n: int, width: float = 3.6, height: float = 3.4):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt.subplots(1, n, figsize=(width * n, height), squeeze=False)


def plot_delta_curves(path: str | Path) -> Path:
    """Figure 2: 1 + delta_q against q, one panel per family, one line per eps."""
    qs, curves = delta_curves_data()
    fig, axes = _subplots(len(curves))
    for ax, (fam, by_eps) in zip(axes[0], curves.items(), strict=True):
        for e, values in by_eps.items():
            ax.plot(qs, values, label=f"eps = {e:g}")
        ax.axhline(1.0, color="black", lw=0.6, ls=":")
        ax.axvline(1.0, color="black", lw=0.6, ls=":")
        ax.set(title=FAMILY_LABELS[fam], xlabel="q = E[x^2]", ylabel="1 + delta_q")
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_mean_shift(path: str | Path) -> Path:
    """Figure 3: |E[f(x)]| against mu for several sigma^2; quadrature solid, Monte Carlo dashed."""
    mus, data = mean_shift_data()
    variances = (0.5, 1.0, 2.0, 4.0)
    fig, axes = _subplots(len(data))
    for ax, (name, (exact, sampled)) in zip(axes[0], data.items(), strict=True):
        for i, v in enumerate(variances):
            ax.plot(mus, exact[i], color=f"C{i}", label=f"sigma^2 = {v:g}")
            ax.plot(mus, sampled[i], color=f"C{i}", ls="--", lw=0.8)
        ax.set(title=name, xlabel="E[h] (input mean)", ylabel="|E[f(h)]|")
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_layer_outputs(path: str | Path) -> Path:
    """Figure 5: output distributions in layers 1, 4, 16, 64; one panel per family and lam bound."""
    data = layer_outputs_data()
    fig, axes = _subplots(len(data), height=3.2)
    for ax, ((fam, lam_min), d) in zip(axes[0], data.items(), strict=True):
        centres = (d["bins"][1:] + d["bins"][:-1]) / 2
        for layer, stats in d["layers"].items():
            ax.plot(centres, stats["density"], label=f"layer {layer} (mean {stats['mean']:+.2f})")
        ax.set(title=f"{FAMILY_LABELS[fam]}, lam >= {lam_min:g} (lam = {d['lam']:.3g})", xlabel="output",
               ylabel="density")  # fmt: skip
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_max_delta(path: str | Path) -> Path:
    """Figure 6: the largest 1 + delta_q over q in (0, 2] against lam."""
    lams, data = max_delta_data()
    fig, axes = _subplots(1, width=5.0)
    ax = axes[0][0]
    for fam, values in data.items():
        ax.plot(lams, values, marker="o", label=FAMILY_LABELS[fam])
    ax.set(xlabel="lam", ylabel="max over q in (0, 2] of 1 + delta_q", title="eps = 0.03")
    ax.legend()
    return _save(fig, path)
