"""The reproduce and report subcommands."""

from normact.cli import main


def test_reproduce_list(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert "anact-lenet5: LeNet5 with nine activations" in out
    assert "paper: ANAct: Adaptive Normalization for Activation Functions" in out
    assert "    - NSwish fails less often than Swish" in out
    assert "cpu: 9 variants x 5 seeds, about" in out and "full: 9 variants x 25 seeds, about 9 h" in out


def test_unknown_preset_and_scale(capsys):
    assert main(["reproduce", "anact-lenet"]) == 2
    assert "unknown preset 'anact-lenet'; choose from" in capsys.readouterr().err
    assert main(["report", "anact-lenet5", "--scale", "tiny"]) == 2
    assert "has no scale 'tiny'; choose from ['cpu', 'full']" in capsys.readouterr().err


def test_reproduce_with_missing_data_runs_nothing(tmp_path, capsys):
    store = tmp_path / "r.sqlite"
    code = main(["reproduce", "anact-lenet5", "--store", str(store), "--data-dir", str(tmp_path / "none")])
    assert code == 2
    assert "fashion_mnist" in capsys.readouterr().err
    assert not store.exists()


def test_report_prints_markdown_and_writes_it(synth_store, synth_preset, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", synth_preset, "--scale", "s", "--store", str(synth_store), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# LeNet5 with nine activations")
    assert "## Verdicts" in text and f"written to {out / 'report.md'}" in text
    assert main(["report", "--all", "--store", str(synth_store)]) == 0
    assert "# Paper claims: overview" in capsys.readouterr().out
