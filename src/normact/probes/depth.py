"""Theory through depth: the mean-field prediction of E[h_l^2] in a random feed-forward stack.

With zero-mean i.i.d. weights of variance sigma_w^2 / fan_in, independent of the layer input x, and a
fixed bias b, the pre-activation ``h = W x + b`` has, in expectation over W,

    E[h_j^2] = sigma_w^2 * mean_i E[x_i^2] + b_j^2,

the *second moment* of x (not its variance): the cross terms ``E[W_ji W_jk] E[x_i x_k]`` vanish because
the weights are zero-mean, whatever the mean of x. For a wide layer h is Gaussian (central limit), so
the next layer's input has ``E[f(h)^2] = E_{z ~ N(0, q)}[f(z)^2]``, taken by the theory engine. Iterating
gives the self-normalization paper's map ``q_{l+1} = sigma_w^2 E_{N(0, q_l)}[f^2]`` (its eq. 2 with zero
bias). The assumption that h is centred holds for every layer because the weights are zero-mean.

Convolutions are handled position by position: with zero padding, an output near the border sums fewer
inputs, so the second moment is carried as a map over positions and a convolution averages it over the
kernel's taps that fall inside the input (a ones-kernel convolution with the layer's stride, padding and
dilation). The prediction of a layer is the mean of its map, which is what :class:`SecondMoment` measures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from normact import theory
from normact.nn.selu import DSELU, LSELU, SSELU
from normact.probes.activations import SecondMoment
from normact.probes.base import attach, quiet_forward
from normact.probes.score import elementwise_derivative
from normact.probes.select import WEIGHT_LAYERS, is_activation

__all__ = [
    "compare_second_moments",
    "plot_second_moments",
    "predict_second_moments",
    "theory_activation",
]

_CONVS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_PASS_THROUGH = (nn.Identity, nn.Flatten)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
# every non-activation layer predict_second_moments follows
PLAIN_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, *_PASS_THROUGH, *_DROPOUTS)
# torch activation -> (theory name or None when the theory has no such variant, its parameters)
_NAMED: dict[type[nn.Module], Callable[[Any], tuple[str | None, dict[str, float]]]] = {
    nn.ReLU: lambda m: ("relu", {}),
    nn.SELU: lambda m: ("selu", {}),
    nn.Tanh: lambda m: ("tanh", {}),
    nn.Sigmoid: lambda m: ("sigmoid", {}),
    nn.Softsign: lambda m: ("softsign", {}),
    nn.SiLU: lambda m: ("silu", {}),
    nn.Mish: lambda m: ("mish", {}),
    nn.LeakyReLU: lambda m: ("leaky_relu", {"slope": m.negative_slope}),
    nn.ELU: lambda m: ("elu", {"alpha": m.alpha}),
    nn.GELU: lambda m: ("gelu" if m.approximate == "none" else None, {}),
    nn.Softplus: lambda m: ("softplus" if m.beta == 1.0 else None, {}),
    DSELU: lambda m: ("dselu", {"lam": float(m.lam), "alpha": m.alpha}),
    SSELU: lambda m: ("sselu", {"lam": float(m.lam), "alpha": m.alpha, "beta": m.beta}),
    LSELU: lambda m: ("lselu", {"lam": float(m.lam), "alpha": m.alpha, "beta": m.beta}),
}


def theory_activation(module: nn.Module | Callable[[Tensor], Tensor]) -> theory.Activation:
    """The theory engine's :class:`~normact.theory.Activation` for a torch activation module or function.

    torch's ReLU, LeakyReLU, ELU, SELU, Tanh, Sigmoid, Softsign, SiLU, Mish, exact GELU and Softplus
    (beta 1), normact's DSELU, SSELU and LSELU (with the current ``lam``), and subclasses that keep
    their forward, map to the registered names with their parameters; any other elementwise
    activation (a module with ``derivative``, or another torch activation) is evaluated through torch
    in float64. A module with buffers must be in eval mode so
    that evaluating it changes nothing. A function of a tensor (``torch.tanh``, ``F.gelu``,
    ``lambda x: x * torch.sigmoid(x)``) must be elementwise; it is evaluated in float64 and
    differentiated by autograd.
    """
    if not isinstance(module, nn.Module):
        return _function_activation(module)
    kind = type(module)
    base = next((b for b in _NAMED if isinstance(module, b) and kind.forward is b.forward), None)
    if base is not None:
        name, params = _NAMED[base](module)
        if name is not None:
            return theory.get_activation(name, **params)
    if not is_activation(module):
        raise TypeError(f"{kind.__name__} is not an elementwise activation the theory can follow")
    if module.training and any(True for _ in module.buffers()):
        raise ValueError(
            f"{kind.__name__} has running state: call .eval() so that it acts as a fixed function"
        )

    def f(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module.forward(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()

    def df(x: np.ndarray) -> np.ndarray:
        return elementwise_derivative(module, torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()

    return theory.custom_activation(f, df, name=kind.__name__, kinks=(0.0,))


def _function_activation(fn: Callable[[Tensor], Tensor]) -> theory.Activation:
    if not callable(fn):
        raise TypeError(f"expected an activation module or a function of a tensor, got {fn!r}")

    def f(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return fn(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()

    def df(x: np.ndarray) -> np.ndarray:
        with torch.enable_grad():
            leaf = torch.from_numpy(np.asarray(x, dtype=np.float64)).requires_grad_(True)
            (grad,) = torch.autograd.grad(fn(leaf.clone()).sum(), leaf)
        return grad.numpy()

    probe = f(np.linspace(-2.0, 2.0, 5))
    if probe.shape != (5,) or probe.dtype != np.float64:
        raise ValueError(
            f"{fn!r} is not an elementwise function: a float64 tensor of shape (5,) gave "
            f"{probe.dtype} of shape {tuple(probe.shape)}"
        )
    return theory.custom_activation(f, df, name=getattr(fn, "__name__", "custom"), kinks=(0.0,))


def _leaves(model: nn.Module | Sequence[nn.Module]) -> list[tuple[str, nn.Module]]:
    if isinstance(model, nn.Module):
        found = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    else:
        found = [(str(i), m) for i, m in enumerate(model)]
    if not found:
        raise ValueError("predict_second_moments: no layers given")
    return found


def _gain(weight: Tensor, sigma_w2: float | None) -> float:
    """sigma_w^2: given, or fan_in * mean(W^2) of the actual weights (zero-mean i.i.d. assumed)."""
    if sigma_w2 is not None:
        return float(sigma_w2)
    w = weight.detach().to(torch.float64)
    return float(w[0].numel() * w.square().mean())


def _conv_taps(m: np.ndarray, conv: nn.Module) -> np.ndarray:
    """Mean of the second-moment map ``m`` over each output's kernel taps, zero outside the input."""
    n = len(conv.kernel_size)
    if conv.padding_mode != "zeros":
        raise ValueError(
            f"{type(conv).__name__} with padding_mode={conv.padding_mode!r}: only 'zeros' is followed"
        )
    x = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float64))[None, None]
    ones = torch.full((1, 1, *conv.kernel_size), 1.0 / math.prod(conv.kernel_size), dtype=torch.float64)
    out = _CONVS[n](x, ones, stride=conv.stride, padding=conv.padding, dilation=conv.dilation)
    return out[0, 0].numpy()


def _second_moment_after(act: theory.Activation, q: np.ndarray) -> np.ndarray:
    """E_{z ~ N(0, q)}[f(z)^2] elementwise over the map ``q`` (one theory call per distinct value)."""
    values, inverse = np.unique(np.round(q, 12), return_inverse=True)
    out = np.array([theory.moments(act, 0.0, math.sqrt(max(v, 0.0))).second_moment for v in values])
    return out[inverse].reshape(q.shape)


def predict_second_moments(
    model: nn.Module | Sequence[nn.Module],
    q0: float | np.ndarray,
    input_shape: Sequence[int] | None = None,
    sigma_w2: float | Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Mean-field E[h_l^2] at the output of every Linear/Conv layer of a plain feed-forward stack.

    Self-normalization paper, eq. 2 and Prop. 3.1: ``q_l = sigma_w^2 E_{N(0, q_{l-1})}[f^2] + mean(b^2)``,
    with convolution borders followed exactly (see the module docstring).

    Args:
        model: a stack whose leaf modules run in definition order (e.g. ``nn.Sequential``), or a list of
            modules: Linear, Conv1d/2d/3d, elementwise activations, Dropout, Identity and Flatten.
        q0: second moment E[x^2] of the network input per element; for convolutions also a map over
            positions (the mean over samples and channels of x^2).
        input_shape: one sample's shape without the batch, e.g. ``(3, 32, 32)``; needed when the stack
            starts with a convolution and ``q0`` is a scalar.
        sigma_w2: weight variance times fan-in, one value or one per weight layer. Default: read from
            the weights, ``fan_in * mean(W^2)``; bias terms always use the actual ``mean(b^2)``.

    Returns:
        One record per weight layer: ``layer`` (qualified name), ``index`` (1-based depth), ``predicted``.
    """
    layers = _leaves(model)
    n_weights = sum(isinstance(m, WEIGHT_LAYERS) for _, m in layers)
    gains = [sigma_w2] * n_weights if sigma_w2 is None or np.ndim(sigma_w2) == 0 else list(sigma_w2)
    if len(gains) != n_weights:
        raise ValueError(f"sigma_w2 has {len(gains)} values for {n_weights} weight layers")
    m = np.asarray(q0, dtype=np.float64)
    if m.ndim == 0 and input_shape is not None and len(input_shape) > 1:
        m = np.full(tuple(input_shape[1:]), float(m))
    records = []
    for name, module in layers:
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            if isinstance(module, nn.Linear):
                q = np.asarray(_gain(module.weight, gains[len(records)]) * m.mean())
            else:
                if m.ndim != len(module.kernel_size):
                    raise ValueError(
                        f"layer {name!r}: a {len(module.kernel_size)}-D convolution needs the input's second "
                        f"moment per position; pass input_shape= (got a {m.ndim}-D map)"
                    )
                q = _gain(module.weight, gains[len(records)]) * _conv_taps(m, module)
            if module.bias is not None:
                q = q + float(module.bias.detach().to(torch.float64).square().mean())
            records.append({"layer": name, "index": len(records) + 1, "predicted": float(q.mean())})
            m = q
        elif isinstance(module, _DROPOUTS):
            m = m / (1.0 - module.p) if module.training and module.p < 1 else m
        elif isinstance(module, _PASS_THROUGH):
            continue
        elif is_activation(module):
            m = _second_moment_after(theory_activation(module), m)
        else:
            raise TypeError(
                f"layer {name!r} ({type(module).__name__}) is not part of a plain stack; supported: Linear, "
                "Conv1d/2d/3d, elementwise activations, Dropout, Identity, Flatten"
            )
    if not records:
        raise ValueError("predict_second_moments: the stack has no Linear or convolution layer")
    return records


def compare_second_moments(
    model: nn.Module, batch: Tensor, sigma_w2: float | Sequence[float] | None = None
) -> list[dict[str, Any]]:
    """Predicted and measured E[h_l^2] at every weight layer's output for one input batch.

    The measurement is :class:`SecondMoment` on the outputs of the Linear/Conv layers during
    ``model(batch)`` (no gradient; the RNG is forked so that dropout consumes nothing); the prediction
    is :func:`predict_second_moments` started from the batch's own second moment per position.

    Returns:
        One record per weight layer: ``layer, index, predicted, measured, ratio`` (measured / predicted).
    """
    x = batch.detach().to(torch.float64)
    q0 = (x.square().mean(dim=(0, 1)) if x.dim() > 2 else x.square().mean()).cpu().numpy()
    predicted = predict_second_moments(model, q0, tuple(batch.shape[1:]), sigma_w2)
    probe = SecondMoment(where=WEIGHT_LAYERS, tap="output")
    with attach(model, probe):
        quiet_forward(model, batch)
    measured = probe.results()
    return [
        {
            **r,
            "measured": measured[r["layer"]]["value"],
            "ratio": measured[r["layer"]]["value"] / r["predicted"],
        }
        for r in predicted
    ]


def plot_second_moments(
    records: Sequence[dict[str, Any]], path: str | Path, title: str | None = None
) -> Path:
    """Plot predicted (line) and measured (markers) E[h_l^2] against depth; writes a PNG, returns its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    depth = [r["index"] for r in records]
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)  # render with Agg, without pyplot's global state
    ax = fig.subplots()
    ax.plot(depth, [r["predicted"] for r in records], "-", color="C0", label="mean-field theory")
    if all("measured" in r for r in records):
        ax.plot(depth, [r["measured"] for r in records], "o", color="C1", label="measured at init")
    values = [v for r in records for v in (r["predicted"], r.get("measured", r["predicted"])) if v > 0]
    if values and max(values) / min(values) > 100:
        ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="layer l", ylabel="E[h_l^2]", title=title or "Second moment of the pre-activations")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
