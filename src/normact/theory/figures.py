"""Figures of the theory engine: R score against input std (ANAct Fig. 2 style), phi(q) against
Definition 2's bounds (self-normalization paper, Fig. 1 style), the self-normalization paper's Figures
2, 3, 5 and 6 (`normact.theory.selfnorm_figures`) and one activation's f and f'.
matplotlib is imported on use."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from normact.theory import selfnorm_figures
from normact.theory.activations import Activation, get_activation
from normact.theory.quantities import phi, r_score
from normact.theory.solver import solve

__all__ = ["plot_activation", "plot_phi", "plot_r_score", "write_figures"]

R_SCORE_ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "tanh", "swish", "gelu", "softsign", "mish")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_r_score(
    path: str | Path, names: Sequence[str | Activation] = R_SCORE_ACTIVATIONS, std_max: float = 5.0
) -> Path:
    """R(f, s) = ln(Var f / (s^2 E f'^2)) for s in (0, std_max] (ANAct eq. 19); 0 is the ideal."""
    plt = _pyplot()
    stds = np.linspace(0.05, std_max, 100)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in names:
        act = get_activation(name)
        ax.plot(stds, [r_score(act, s) for s in stds], label=act.name)
    ax.axhline(0.0, color="black", lw=0.8, ls=":")
    ax.set(xlabel="input std s", ylabel="R score", title="R score of x ~ N(0, s^2) (ANAct eq. 19)")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_phi(
    path: str | Path, eps: float = 0.017, q_max: float = 3.0, extra: Sequence[Activation] = ()
) -> Path:
    """phi(q) of SELU, the dSELU, sSELU, lSELU optima at eps and ``extra``, in Definition 2's band.

    The band lies between min(1, 1/q) and max(1, 1/q).
    """
    plt = _pyplot()
    qs = np.linspace(0.05, q_max, 120)
    acts = {"SELU": "selu"}
    for fam in ("dselu", "sselu", "lselu"):
        acts[f"{fam} (eps={eps})"] = solve(fam, eps).activation()
    acts.update({act.name: act for act in extra})
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.fill_between(qs, np.minimum(1, 1 / qs), np.maximum(1, 1 / qs), color="0.9", label="Definition 2 band")
    ax.plot(qs, 1 / qs, color="black", lw=0.8, ls=":", label="1/q")
    for label, act in acts.items():
        ax.plot(qs, [phi(act, q) for q in qs], label=label)
    ax.set(xlabel="q = E[x^2]", ylabel="phi(q)", ylim=(0.4, 2.0), title="phi(q) = E[f'(x)^2], x ~ N(0, q)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_activation(path: str | Path, act: Activation, x_max: float = 4.0) -> Path:
    """f(x) and f'(x) of one activation on [-x_max, x_max]."""
    plt = _pyplot()
    x = np.linspace(-x_max, x_max, 401)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(x, act.f(x), label="f(x)")
    ax.plot(x, act.df(x), label="f'(x)", ls="--")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.axvline(0.0, color="black", lw=0.6)
    ax.set(xlabel="x", title=act.name)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_figures(directory: str | Path, act: Activation | None = None) -> list[Path]:
    """Write the theory figures as PNG into `directory` (created if needed); return the paths.

    Without ``act``: the R-score and phi(q) figures and the self-normalization paper's Figures 2, 3, 5
    and 6. With ``act``: the R-score and phi(q) figures showing it too (beside their usual activations)
    and ``<name>.png``, its f and f'.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = R_SCORE_ACTIVATIONS if act is None else (*R_SCORE_ACTIVATIONS, act)
    paths = [
        plot_r_score(directory / "r_score.png", names),
        plot_phi(directory / "phi_q.png", extra=() if act is None else (act,)),
    ]
    if act is None:
        paths += [
            selfnorm_figures.plot_delta_curves(directory / "selfnorm_fig2_delta_q.png"),
            selfnorm_figures.plot_mean_shift(directory / "selfnorm_fig3_mean_shift.png"),
            selfnorm_figures.plot_layer_outputs(directory / "selfnorm_fig5_layer_outputs.png"),
            selfnorm_figures.plot_max_delta(directory / "selfnorm_fig6_max_delta.png"),
        ]
    if act is not None:
        paths.append(plot_activation(directory / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', act.name)}.png", act))
    return paths
