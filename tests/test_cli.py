import json
import sys

import pytest

import normact
from normact.cli import main
from normact.theory import get_activation, quantities, solve


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_theory_json_has_the_documented_keys(capsys):
    code, out = run(capsys, "theory", "leaky_relu", "--param", "slope=0.2", "--std", "2", "--json")
    assert code == 0
    data = json.loads(out.out)
    for key in (
        "mean",
        "var",
        "second_moment",
        "rho",
        "rho_prime",
        "lam",
        "R",
        "skewness",
        "saturation",
        "phi",
        "delta",
        "gamma",
    ):
        assert key in data
    assert data["saturation"] is None
    q = quantities(get_activation("leaky_relu", slope=0.2), 0.0, 2.0)
    assert data["rho"] == pytest.approx(q.rho) and data["gamma"] == pytest.approx(q.gamma)


def test_theory_text_and_bounded_saturation(capsys):
    code, out = run(capsys, "theory", "tanh")
    assert code == 0 and "saturation" in out.out and "Definition 2" in out.out


def test_solve_json(capsys):
    code, out = run(capsys, "solve", "sselu", "--eps", "0.017", "--json")
    data = json.loads(out.out)
    keys = {"lam", "alpha", "beta", "gamma", "residuals", "converged", "reason", "lam_min"}
    assert code == 0 and set(data) == keys
    assert data["lam"] == pytest.approx(solve("sselu", 0.017).lam)
    code, out = run(capsys, "solve", "dselu", "--eps", "0.03", "--json")
    assert json.loads(out.out)["beta"] is None


def test_solve_lam_min(capsys):
    code, out = run(capsys, "solve", "lselu", "--eps", "0.06", "--lam-min", "0.5", "--json")
    data = json.loads(out.out)
    assert code == 0 and data["lam_min"] == 0.5 and data["lam"] == pytest.approx(0.5)
    assert data["gamma"] == pytest.approx(solve("lselu", 0.06, lam_min=0.5).gamma)
    code, out = run(capsys, "solve", "lselu", "--eps", "0.06", "--lam-min", "0.5")
    assert code == 0 and "(lam >= 0.5 is active)" in out.out
    for bad in ("1.3", "0", "-0.5"):
        code, out = run(capsys, "solve", "lselu", "--eps", "0.06", "--lam-min", bad)
        assert code == 2 and out.err.startswith(f"normact solve: --lam-min {float(bad):g}: ")
        assert "must lie in (0, 1.11753]" in out.err


def test_solve_table5(capsys):
    code, out = run(capsys, "solve", "--table5")
    assert code == 0 and "lselu (central)" in out.out and "verdict" in out.out


def test_errors_are_clear(capsys):
    code, out = run(capsys, "theory", "seluu")
    assert code == 2 and "unknown activation 'seluu'" in out.err
    code, out = run(capsys, "theory", "elu", "--param", "alpha")
    assert code == 2 and "key=number" in out.err
    code, out = run(capsys, "solve", "lselu", "--eps", "0.3")
    assert code == 2 and "feasible eps" in out.err


def test_plot_writes_pngs(tmp_path, capsys):
    code, _ = run(capsys, "theory", "--plot", str(tmp_path))
    assert code == 0
    selfnorm = ("fig2_delta_q", "fig3_mean_shift", "fig5_layer_outputs", "fig6_max_delta")
    for name in ("r_score", "phi_q", *(f"selfnorm_{f}" for f in selfnorm)):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kernels_names_each_layers_path(capsys):
    from normact.functional import _fused

    with _fused.fused_kernels(False):
        assert main(["kernels", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cpu"] == {
        "used": False,
        "why": "switched off (NORMACT_FUSED_KERNELS=0 or fused_kernels(False))",
    }
    rows = {r["layer"]: r for r in report["layers"]}
    assert rows["NReLU"]["cpu"] == "pure torch (see above)"
    assert rows["NormalizedActivation(tanh)"]["cpu"] == "pure torch (no kernel for this base)"
    assert main(["kernels"]) == 0
    text = capsys.readouterr().out
    assert "NSwish" in text and "fused CPU kernels:" in text


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"normact {normact.__version__}"


def test_theory_of_a_solved_selu_and_an_explained_layer_name(capsys):
    code, out = run(capsys, "theory", "sselu", "--param", "eps=0.06", "--json")
    assert code == 0
    assert json.loads(out.out)["phi"] == pytest.approx(1.06, abs=1e-8)  # phi(1) = 1 + eps, the solve's target
    code, out = run(capsys, "theory", "nswish")
    assert code == 2 and "swish normalized by its batch statistics" in out.err


def test_theory_of_a_users_function_and_its_plot(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_acts.py").write_text("import torch\n\ndef soft(x):\n    return x * torch.sigmoid(x)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI adds the current folder to it
    code, out = run(capsys, "theory", "my_acts:soft", "--json", "--plot", str(tmp_path / "fig"))
    assert code == 0
    report = json.loads(out.out.splitlines()[-1])
    assert report["rho_prime"] == pytest.approx(quantities("silu").rho_prime, rel=1e-9)
    assert (tmp_path / "fig" / "my_acts_soft.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out = run(capsys, "theory", "my_acts:nothing")
    assert code == 2 and "module 'my_acts' has no attribute 'nothing'; it defines ['soft']" in out.err
    code, out = run(capsys, "theory", "no_such_module:f")
    assert code == 2 and "cannot import module 'no_such_module'" in out.err
