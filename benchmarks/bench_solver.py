"""Time to solve Table 5 of the self-normalization paper: normact's structured solver against a
straightforward scipy implementation (integrate.quad for every expectation, SLSQP on the program),
measured in the same run. Prints both times, their ratio and the largest disagreement in gamma.

    python benchmarks/bench_solver.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import integrate, optimize

from normact.theory import solver

EPS = (0.01, 0.017, 0.03, 0.05, 0.06, 0.07)
ENTRIES = [(f, e, False) for f in ("dselu", "sselu", "lselu") for e in EPS] + [
    ("sselu", 0.06, True),
    ("lselu", 0.06, True),
]


def _negative_part(family: str, p: np.ndarray):
    """f and f' on x <= 0 for the straightforward implementation, written out by hand."""
    lam, alpha = p[0], p[1]
    beta = p[2] if len(p) > 2 else 0.0
    if family == "sselu":
        return (
            lambda x: lam * alpha * (np.exp(beta * x) - 1),
            lambda x: lam * alpha * beta * np.exp(beta * x),
        )
    if family == "lselu":
        return (
            lambda x: lam * (alpha * np.exp(x) + beta * x - alpha),
            lambda x: lam * (alpha * np.exp(x) + beta),
        )
    return (lambda x: lam * alpha * (np.exp(x) - 1), lambda x: lam * alpha * np.exp(x))


def _expect(g, lo, hi) -> float:
    pdf = lambda x: np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)  # noqa: E731
    return integrate.quad(lambda x: g(x) * pdf(x), lo, hi)[0]


def _stats(family: str, p: np.ndarray) -> tuple[float, float, float, float]:
    """phi(1), E[f^2], E[f] and phi'(1) = E[f'^2 (x^2 - 1)] / 2 under N(0, 1), by quad on each side."""
    f, df = _negative_part(family, p)
    lam = p[0]
    phi1 = _expect(lambda x: df(x) ** 2, -np.inf, 0) + _expect(lambda x: lam**2, 0, np.inf)
    second = _expect(lambda x: f(x) ** 2, -np.inf, 0) + _expect(lambda x: (lam * x) ** 2, 0, np.inf)
    mean = _expect(f, -np.inf, 0) + _expect(lambda x: lam * x, 0, np.inf)
    dphi = 0.5 * (
        _expect(lambda x: df(x) ** 2 * (x * x - 1), -np.inf, 0)
        + _expect(lambda x: lam**2 * (x * x - 1), 0, np.inf)
    )
    return phi1, second, mean, dphi


def straightforward(family: str, eps: float, central: bool) -> float:
    """SLSQP from a fixed start on the program of eq. 11/13 (eq. 5 for dSELU); returns gamma."""
    x0 = np.array([1.0, 1.0] if family == "dselu" else [1.0, 1.0, 0.5])
    cons = [
        {"type": "eq", "fun": lambda p: _stats(family, p)[0] - (1 + eps)},
        {"type": "eq", "fun": lambda p: _stats(family, p)[1] - 1.0},
    ]
    if central:
        cons.append({"type": "eq", "fun": lambda p: _stats(family, p)[2]})
    bounds = [(0.5 if family == "dselu" else 1.0, 3.0)] + [(1e-3, 10.0)] * (len(x0) - 1)
    objective = (lambda p: 0.0) if family == "dselu" else (lambda p: (_stats(family, p)[3] + 1) ** 2)
    res = optimize.minimize(
        objective,
        x0,
        method="SLSQP",
        bounds=bounds,
        constraints=cons,
        options={"ftol": 1e-12, "maxiter": 200},
    )
    return abs(_stats(family, res.x)[3] + 1)


def ours() -> list[float]:
    solver._solve_cached.cache_clear()
    solver._grid.cache_clear()  # from scratch, as a fresh process would
    return [solver.solve(f, e, central=c).gamma for f, e, c in ENTRIES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours()  # warm-up: imports, first numpy calls
    fast_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fast_gammas = ours()
        fast_times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    slow_gammas = [straightforward(f, e, c) for f, e, c in ENTRIES]
    slow_time = time.perf_counter() - t0
    fast = statistics.median(fast_times)
    worse = sum(s > f + 1e-6 for f, s in zip(fast_gammas, slow_gammas))
    print(f"Table 5 ({len(ENTRIES)} solves)")
    print(f"  normact structured solver : {fast * 1e3:8.1f} ms  (median of {args.repeats})")
    print(f"  quad + SLSQP              : {slow_time * 1e3:8.1f} ms  (one run)")
    print(f"  speed-up                  : {slow_time / fast:8.1f}x")
    print(
        f"  max |gamma difference|    : {max(abs(a - b) for a, b in zip(fast_gammas, slow_gammas)):.2e}"
        f"  (quad + SLSQP ended above the optimum in {worse} of {len(ENTRIES)})"
    )


if __name__ == "__main__":
    main()
