import math

import numpy as np
import pytest
from scipy import special

from normact.theory import SELU_ALPHA, SELU_LAMBDA, get_activation, moments, phi
from normact.theory.solver import Family, InfeasibleError, solve, solve_generic

EPS = [0.01, 0.017, 0.03, 0.05, 0.06, 0.07]


def check_constraints(sol, eps, central):
    m = moments(sol.activation(), 0.0, 1.0)
    assert abs(m.df2 - (1 + eps)) < 1e-9
    assert abs(m.second_moment - 1) < 1e-9
    if central:
        assert abs(m.mean) < 1e-9
    assert sol.converged
    assert sol.gamma == pytest.approx(abs(m.df2_dvar + 1.0), abs=1e-14)


@pytest.mark.parametrize("family", ["dselu", "sselu", "lselu"])
@pytest.mark.parametrize("eps", EPS)
def test_constraints_met(family, eps):
    sol = solve(family, eps)
    check_constraints(sol, eps, central=False)
    if family != "dselu":
        assert sol.lam >= 1.0


@pytest.mark.parametrize("family", ["sselu", "lselu"])
def test_central_constraints_met(family):
    sol = solve(family, 0.06, central=True)
    check_constraints(sol, 0.06, central=True)
    assert sol.lam >= 1.0


def test_dselu_against_its_closed_form():
    # E[f'^2] = lam^2 (1/2 + alpha^2 A), E[f^2] = lam^2 (1/2 + alpha^2 B) with A = e^2 Phi(-2) and
    # B = A - 2 e^{1/2} Phi(-1) + 1/2 (moment generating function of the truncated normal), so
    # alpha^2 = eps / (2 (A - (1 + eps) B)) and lam^2 = 1 / (1/2 + alpha^2 B).
    a = math.e**2 * special.ndtr(-2)
    b = a - 2 * math.exp(0.5) * special.ndtr(-1) + 0.5
    for eps in EPS:
        alpha = math.sqrt(eps / (2 * (a - (1 + eps) * b)))
        lam = 1 / math.sqrt(0.5 + alpha**2 * b)
        sol = solve("dselu", eps)
        assert sol.alpha == pytest.approx(alpha, rel=1e-12)
        assert sol.lam == pytest.approx(lam, rel=1e-12)


def test_dselu_at_selu_eps_recovers_selu():
    eps = phi("selu", 1.0) - 1.0
    sol = solve("dselu", eps)
    assert sol.lam == pytest.approx(SELU_LAMBDA, rel=1e-10)
    assert sol.alpha == pytest.approx(SELU_ALPHA, rel=1e-10)


@pytest.mark.parametrize(
    ("family", "eps", "central"),
    [("sselu", 0.03, False), ("lselu", 0.017, False), ("sselu", 0.06, True), ("dselu", 0.05, False)],
)
def test_structured_optimum_equals_multistart_slsqp(family, eps, central):
    fast = solve(family, eps, central=central)
    slow = solve_generic(family, eps, central=central, starts=4)
    assert slow.converged
    assert fast.gamma <= slow.gamma + 1e-10
    for key in ("lam", "alpha"):
        assert getattr(fast, key) == pytest.approx(getattr(slow, key), abs=1e-7)


def test_optimum_is_global_along_the_feasible_curve():
    # Independent scan: for each lam on a grid, solve the two equalities for (alpha, beta) by
    # root-finding on beta, and evaluate gamma; nothing on the curve beats the solver.
    from scipy import optimize

    eps = 0.03
    best = solve("sselu", eps)

    def residual(beta, lam):
        act = get_activation("sselu", lam=lam, alpha=1.0, beta=beta)
        m = moments(act, 0.0, 1.0)
        neg2 = m.second_moment / lam**2 - 0.5  # E[f^2] = lam^2 (1/2 + alpha^2 neg2)
        alpha2 = (1 / lam**2 - 0.5) / neg2
        act = get_activation("sselu", lam=lam, alpha=math.sqrt(alpha2), beta=beta)
        return moments(act, 0.0, 1.0).df2 - (1 + eps), math.sqrt(alpha2)

    for lam in np.linspace(1.0, 1.3, 13):
        beta = optimize.brentq(lambda b, lam=lam: residual(b, lam)[0], 0.05, 20.0, xtol=1e-13)
        alpha = residual(beta, lam)[1]
        m = moments(get_activation("sselu", lam=lam, alpha=alpha, beta=beta), 0.0, 1.0)
        assert abs(m.df2_dvar + 1) >= best.gamma - 1e-9


def test_user_defined_family():
    # A tanh-saturating negative part: lam * (x if x > 0 else alpha * tanh(beta x)); quadrature route.
    def build(lam, alpha, beta):
        def f(x):
            return lam * np.where(x > 0, x, alpha * np.tanh(beta * x))

        def df(x):
            return lam * np.where(x > 0, 1.0, alpha * beta / np.cosh(beta * x) ** 2)

        from normact.theory import Activation

        return Activation("tanh_elu", f, df, {"lam": lam, "alpha": alpha, "beta": beta}, kinks=(0.0,))

    fam = Family("tanh_elu", build, {"lam": (1.0, 1.4), "alpha": (0.05, 5.0), "beta": (0.05, 5.0)})
    sol = solve(fam, 0.03)
    m = moments(build(sol.lam, sol.alpha, sol.beta), 0.0, 1.0)
    assert sol.converged and sol.lam >= 1.0
    assert abs(m.df2 - 1.03) < 1e-9 and abs(m.second_moment - 1) < 1e-9


def test_infeasible_and_invalid_eps():
    with pytest.raises(InfeasibleError, match=r"feasible eps lie in \(0, 0\.07"):
        solve("lselu", 0.2)
    with pytest.raises(InfeasibleError, match="feasible eps lie in"):
        solve("dselu", 0.5)
    with pytest.raises(InfeasibleError, match="no centralised form"):
        solve("dselu", 0.05, central=True)
    with pytest.raises(ValueError, match="eps must be a finite positive number"):
        solve("sselu", 0.0)
    with pytest.raises(ValueError, match="unknown family 'selu'"):
        solve("selu", 0.05)


def test_solution_is_cached_and_serialisable():
    assert solve("sselu", 0.017) is solve("sselu", 0.017)
    d = solve("lselu", 0.017).as_dict()
    assert set(d) >= {"lam", "alpha", "beta", "gamma", "residuals", "converged"}
