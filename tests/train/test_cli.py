import json
import types

import pytest
import torch
import yaml

from normact import cli
from normact.cli import main
from normact.train import ResultsStore, config_to_dict
from normact.train.store import DEFAULT_STORE

from .tinyrun import tiny_config

pytest.importorskip("sklearn", reason="the wine data ship with scikit-learn")


@pytest.fixture
def files(tmp_path):
    """A run config on scikit-learn's wine data and a sweep file using it."""
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(config_to_dict(tiny_config(tmp_path / "runs", "data.name=wine"))))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"study": "cli", "seeds": [0, 1], "config": "run.yaml",
                                     "variants": {"relu": None, "tanh": ["model.act=tanh"]}}))  # fmt: skip
    return types.SimpleNamespace(config=str(config), sweep=str(sweep), store=str(tmp_path / "r.sqlite"))


def test_train_resume_and_runs(files, capsys):
    assert main(["train", files.config, "train.epochs=2", "--store", files.store]) == 0
    assert main(["train", files.config, "train.epochs=2", "--store", files.store, "--resume"]) == 0
    capsys.readouterr()
    assert main(["runs", "--store", files.store]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "study", "variant", "seed", "status", "config", "epochs_done",
                                "diverged_epoch", "test_acc", "test_acc5", "device", "precision",
                                "world_size", "updated_at"]  # fmt: skip
    config_hash = ResultsStore(files.store).get_run(1).config_hash
    assert lines[1].split()[:8] == ["1", "tiny", "default", "0", "finished", config_hash[:12], "2", "-"]
    assert lines[1].split()[9] == "1.0000"  # the wine data have 3 classes: top-3 of 3 classes
    assert lines[1].split()[10:13] == ["cpu", "fp32", "1"] and len(lines) == 2
    assert main(["runs", "--store", files.store, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "finished" and 0 <= row["test_acc"] <= 1 and row["test_loss"] > 0
    assert row["test_acc5"] == 1.0
    assert row["torch_version"] == torch.__version__ and row["device_name"]


def test_sweep_then_rerun_skips(files, capsys):
    assert main(["sweep", files.sweep, "--store", files.store]) == 0
    assert capsys.readouterr().out.strip() == "4 finished"
    assert main(["sweep", files.sweep, "--store", files.store, "--jobs", "1"]) == 0
    assert capsys.readouterr().out.strip() == "4 skipped"
    assert main(["runs", "--store", files.store, "--variant", "tanh", "--json"]) == 0
    assert [(r["variant"], r["seed"]) for r in json.loads(capsys.readouterr().out)] == [
        ("tanh", 0),
        ("tanh", 1),
    ]


def test_bad_input_is_reported_not_raised(files, capsys):
    assert main(["train", files.config, "optim.lrr=0.1", "--store", files.store]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normact train: unknown config key 'optim.lrr'; valid keys in 'optim': name, lr")
    assert main(["train", "missing.yaml"]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["runs", "--store", "missing.sqlite"]) == 2
    assert "results store 'missing.sqlite' does not exist" in capsys.readouterr().err
    assert cli.DEFAULT_STORE == DEFAULT_STORE
    with pytest.raises(SystemExit):
        main(["runs", "--status", "done"])
    assert main(["sweep", files.sweep, "--store", files.store, "--gpus-per-run", "1"]) == 2
    assert "--gpus-per-run go with --engine ray" in capsys.readouterr().err
