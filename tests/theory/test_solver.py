import math

import numpy as np
import pytest
from scipy import special

from normact.theory import SELU_ALPHA, SELU_LAMBDA, get_activation, moments, phi
from normact.theory.solver import FAMILIES, Family, InfeasibleError, LamMinError, solve, solve_generic

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


# --- the whole domain: an independent scan by quadrature ---------------------------------------------


def _quad_below_zero(g, beta):
    """E[g(beta x) 1{x <= 0}], x ~ N(0, 1), by quadrature: in u = beta x on [-40, 0], in x below."""
    from scipy import integrate

    def pdf(x):
        return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    near = integrate.quad(lambda u: g(u) * pdf(u / beta) / beta, -40.0, 0.0, limit=200)[0]
    far = integrate.quad(lambda x: g(beta * x) * pdf(x), -np.inf, -40.0 / beta, limit=200)[0]
    return near + far


def _on_curve(eps, a_f, a_phi, d):
    """lam and gamma where the equalities meet, from the negative part's expectations at unit amplitude.

    With u = lam^2 and v = lam^2 r^2 (r the amplitude) they are linear: u/2 + v A_f = 1 and
    u/2 + v A_phi = 1 + eps; phi'(1) = (E[f'^2 x^2] - E[f'^2]) / 2 = v D / 2, the positive part adding 0.
    NaN where they have no solution.
    """
    v = eps / (a_phi - a_f)
    u = 2 * (1 - v * a_f)
    return (math.sqrt(u), abs(v * d / 2 + 1)) if v > 0 and u > 0 else (math.nan, math.nan)


def _sselu_point(eps, beta):
    a_f = _quad_below_zero(lambda u: math.expm1(u) ** 2, beta)
    a_phi = _quad_below_zero(lambda u, b=beta: b * b * math.exp(2 * u), beta)
    d = _quad_below_zero(lambda u, b=beta: b * b * math.exp(2 * u) * ((u / b) ** 2 - 1), beta)
    return _on_curve(eps, a_f, a_phi, d)


def _lselu_point(eps, t):
    """lSELU's negative part r (cos t (e^x - 1) + sin t x), t in [0, pi/2]."""
    from scipy import integrate

    def below_zero(g):
        return integrate.quad(lambda x: g(x) * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), -np.inf, 0)[0]

    c, s = math.cos(t), math.sin(t)
    a_f = below_zero(lambda x: (c * math.expm1(x) + s * x) ** 2)
    a_phi = below_zero(lambda x: (c * math.exp(x) + s) ** 2)
    d = below_zero(lambda x: (c * math.exp(x) + s) ** 2 * (x * x - 1))
    return _on_curve(eps, a_f, a_phi, d)


def _scan(point, eps, xs, lam_min=1.0):
    """gamma along a family's feasible curve at each shape parameter in xs, NaN where lam >= lam_min fails,
    followed by gamma at the lam = lam_min points between them, found by root-finding on the quadrature.
    """
    from scipy import optimize

    lams, gammas = np.array([point(eps, x) for x in xs]).T
    out = list(np.where(lams >= lam_min, gammas, np.nan))
    for k in np.flatnonzero(np.isfinite(lams[:-1]) & np.isfinite(lams[1:])):
        if (lams[k] - lam_min) * (lams[k + 1] - lam_min) < 0:
            x = optimize.brentq(lambda x: point(eps, x)[0] - lam_min, xs[k], xs[k + 1], xtol=1e-14)
            out.append(point(eps, x)[1])
    return np.array(out)


def _sselu_scan(eps, betas, lam_min=1.0):
    return _scan(_sselu_point, eps, betas, lam_min)


@pytest.mark.parametrize("eps", [2.0, 5.0, 10.0])
def test_sselu_infimum_at_infinity_matches_an_independent_scan(eps):
    sol = solve("sselu", eps)
    gammas = _sselu_scan(eps, np.geomspace(0.05, 1e5, 80))
    limit = abs(1 - eps / 2)
    assert np.isfinite(gammas).any()  # the scan reaches the feasible curve
    assert np.nanmin(gammas) >= limit - 1e-9  # nothing on the curve beats the limit ...
    assert np.nanmin(gammas) - limit < 1e-3  # ... which the curve approaches
    assert not sol.converged and "beta -> inf" in sol.reason
    assert sol.gamma <= np.nanmin(gammas) + 1e-12
    assert sol.gamma == pytest.approx(limit, abs=1e-5)
    check = moments(sol.activation(), 0.0, 1.0)  # the returned point still meets the constraints
    assert abs(check.df2 - (1 + eps)) < 1e-8 and abs(check.second_moment - 1) < 1e-9 and sol.lam >= 1


@pytest.mark.parametrize("eps", [0.03, 1.0])
def test_sselu_interior_optimum_beats_an_independent_scan(eps):
    sol = solve("sselu", eps)
    gammas = _sselu_scan(eps, np.geomspace(0.05, 1e5, 80))
    assert sol.converged and sol.reason is None
    assert sol.gamma < abs(1 - eps / 2)
    assert sol.gamma <= np.nanmin(gammas) + 1e-9


def test_infeasible_eps_has_no_feasible_point_in_a_scan_of_the_domain():
    # lSELU: negative part r (cos t (e^x - 1) + sin t x), t in [0, pi/2]; lam >= 1 needs rho >= 1 + 2 eps.
    from scipy import integrate

    def below_zero(g):
        return integrate.quad(lambda x: g(x) * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), -np.inf, 0)[0]

    eps = 0.2
    with pytest.raises(InfeasibleError, match="grid"):
        solve("lselu", eps)
    for t in np.linspace(0, np.pi / 2, 181):
        c, s = math.cos(t), math.sin(t)
        a_phi = below_zero(lambda x, c=c, s=s: (c * math.exp(x) + s) ** 2)
        a_f = below_zero(lambda x, c=c, s=s: (c * math.expm1(x) + s * x) ** 2)
        assert a_phi / a_f < 1 + 2 * eps
    # sSELU is feasible at every eps: rho(beta) grows without bound
    assert solve("sselu", 50.0).lam >= 1


def test_generic_solver_reports_an_optimum_on_its_box_bound():
    fam = FAMILIES["sselu"]
    narrow = Family("sselu", fam.build, {**fam.bounds, "beta": (0.8, 5.0)})  # the optimum is at 0.58
    sol = solve_generic(narrow, 0.03, starts=4)
    assert not sol.converged and "beta" in sol.reason and "bound" in sol.reason


# --- the lower bound on lam: the constrained program by an independent scan ---------------------------


@pytest.mark.parametrize("lam_min", [0.5, 1.05])
def test_lselu_lam_min_optimum_matches_an_independent_scan(lam_min):
    eps = 0.06
    sol = solve("lselu", eps, lam_min=lam_min)
    check_constraints(sol, eps, central=False)
    assert sol.lam >= lam_min and sol.lam_min == lam_min
    gammas = _scan(_lselu_point, eps, np.linspace(0.0, np.pi / 2, 181), lam_min)
    assert np.isfinite(gammas).any()
    assert sol.gamma <= np.nanmin(gammas) + 1e-9  # nothing on the scan beats the solver ...
    assert np.nanmin(gammas) - sol.gamma < 1e-6  # ... and its best point (here on lam = lam_min) is it
    if lam_min < 1:  # relaxing the bound lowers gamma: lam = 1 was active at eps = 0.06
        assert sol.gamma < solve("lselu", eps).gamma - 0.01


@pytest.mark.parametrize(("lam_min", "eps"), [(0.5, 0.06), (1.2, 0.03)])
def test_sselu_lam_min_optimum_matches_an_independent_scan(lam_min, eps):
    sol = solve("sselu", eps, lam_min=lam_min)
    check_constraints(sol, eps, central=False)
    assert sol.lam >= lam_min - 1e-12 and sol.lam_at_bound
    gammas = _sselu_scan(eps, np.geomspace(0.05, 50.0, 120), lam_min)
    assert sol.gamma <= np.nanmin(gammas) + 1e-9
    assert np.nanmin(gammas) - sol.gamma < 1e-6


def test_lam_min_optimum_equals_multistart_slsqp():
    fast = solve("lselu", 0.06, lam_min=0.5)
    slow = solve_generic("lselu", 0.06, starts=6, lam_min=0.5)
    assert slow.converged and slow.lam >= 0.5
    assert fast.gamma <= slow.gamma + 1e-10
    for key in ("lam", "alpha", "beta"):
        assert getattr(fast, key) == pytest.approx(getattr(slow, key), abs=1e-6)


def test_lam_min_above_the_largest_feasible_lam_names_the_range():
    eps = 0.06
    from scipy import optimize

    ts = np.linspace(0.0, np.pi / 2, 46)
    k = int(np.nanargmax([_lselu_point(eps, t)[0] for t in ts]))
    lo, hi = ts[max(k - 1, 0)], ts[min(k + 1, len(ts) - 1)]
    res = optimize.minimize_scalar(lambda t: -_lselu_point(eps, t)[0], bounds=(lo, hi), method="bounded")
    top = -res.fun  # the largest lam on lSELU's feasible curve, by quadrature
    with pytest.raises(LamMinError, match=r"lam_min must lie in \(0, 1\.11") as err:
        solve("lselu", eps, lam_min=1.3)
    stated = float(str(err.value).split("(0, ")[1].split("]")[0])
    assert stated == pytest.approx(top, abs=1e-4)
    assert solve("lselu", eps, lam_min=stated - 1e-4).lam == pytest.approx(stated, abs=2e-4)  # still feasible
    for bad in (0.0, -1.0):
        with pytest.raises(LamMinError, match=r"lam_min must lie in \(0, "):
            solve("lselu", eps, lam_min=bad)
    with pytest.raises(LamMinError, match=r"\(0, 1\.4142"):  # sSELU: lam -> sqrt 2 as beta -> inf
        solve("sselu", eps, lam_min=1.5)
    with pytest.raises(LamMinError, match="finite"):
        solve("sselu", eps, lam_min=math.nan)
    with pytest.raises(LamMinError, match="does not apply to dselu"):
        solve("dselu", eps, lam_min=0.5)
    with pytest.raises(LamMinError, match=r"central.*lam_min must lie in \(0, 1\.04"):
        solve("sselu", eps, central=True, lam_min=1.2)


def test_lam_min_default_keeps_every_result():
    for family in ("sselu", "lselu"):
        assert solve(family, 0.017) == solve(family, 0.017, lam_min=1.0)
        assert solve(family, 0.017, lam_min=1.0).lam_min == 1.0
    assert solve("dselu", 0.017).lam_min is None
