"""Figures of the theory engine: R score against input std (ANAct Fig. 2 style) and phi(q) against
Definition 2's bounds (self-normalization paper, Fig. 1 style). matplotlib is imported on use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from normact.theory.quantities import phi, r_score
from normact.theory.solver import solve

__all__ = ["plot_phi", "plot_r_score", "write_figures"]

R_SCORE_ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "tanh", "swish", "gelu", "softsign", "mish")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_r_score(path: str | Path, names: Sequence[str] = R_SCORE_ACTIVATIONS, std_max: float = 5.0) -> Path:
    """R(f, s) = ln(Var f / (s^2 E f'^2)) for s in (0, std_max] (ANAct eq. 19); 0 is the ideal."""
    plt = _pyplot()
    stds = np.linspace(0.05, std_max, 100)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in names:
        ax.plot(stds, [r_score(name, s) for s in stds], label=name)
    ax.axhline(0.0, color="black", lw=0.8, ls=":")
    ax.set(xlabel="input std s", ylabel="R score", title="R score of x ~ N(0, s^2) (ANAct eq. 19)")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_phi(path: str | Path, eps: float = 0.017, q_max: float = 3.0) -> Path:
    """phi(q) of SELU and the dSELU, sSELU, lSELU optima at eps, between min(1, 1/q) and max(1, 1/q)."""
    plt = _pyplot()
    qs = np.linspace(0.05, q_max, 120)
    acts = {"SELU": "selu"}
    for fam in ("dselu", "sselu", "lselu"):
        acts[f"{fam} (eps={eps})"] = solve(fam, eps).activation()
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


def write_figures(directory: str | Path) -> list[Path]:
    """Write every theory figure as PNG into `directory` (created if needed); return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [plot_r_score(directory / "r_score.png"), plot_phi(directory / "phi_q.png")]
