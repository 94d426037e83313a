"""A user's own models and datasets: module:function in the config, --import on the CLI, objects in Python."""

import textwrap

import pytest
import torch
import yaml
from torch import nn

from normact.cli import main
from normact.train import ResultsStore, config_to_dict, train

from .tinyrun import make_splits, tiny_config

MODELS = """
import math

from torch import nn

from normact.models import register_model


def build_net(num_classes, input_shape, width=8):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(), nn.Linear(width, num_classes)
    )


@register_model("user_net")
def user_net(num_classes, input_shape, act="relu"):
    return build_net(num_classes, input_shape, width=6)
"""

DATA = """
from types import SimpleNamespace

import torch
from torch.utils.data import TensorDataset


def blobs(root=None, n_train=48):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (n_train + 24,), generator=g)
    x = torch.randn(3, 8, generator=g)[y] + 0.5 * torch.randn(n_train + 24, 8, generator=g)
    train, test = TensorDataset(x[:n_train], y[:n_train]), TensorDataset(x[n_train:], y[n_train:])
    return SimpleNamespace(train=train, test=test, num_classes=3, input_shape=(8,))


def not_a_dataset():
    return [1, 2, 3]
"""


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """The user's modules ``my_models`` and ``my_data`` and a run config, in the current folder."""
    (tmp_path / "my_models.py").write_text(textwrap.dedent(MODELS))
    (tmp_path / "my_data.py").write_text(textwrap.dedent(DATA))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [str(tmp_path), *__import__("sys").path])
    config = tiny_config(None, "data.name=my_data:blobs", "model.name=user_net", "train.epochs=1")
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config_to_dict(config)))
    return tmp_path


def test_cli_imports_the_users_module_and_loads_its_data(user_code, capsys):
    store = str(user_code / "r.sqlite")
    code = main(["train", "run.yaml", "--store", store])
    assert code == 2 and "unknown model 'user_net'" in capsys.readouterr().err  # not imported yet
    assert main(["train", "run.yaml", "--import", "my_models", "--store", store]) == 0
    (run,) = ResultsStore(store).runs(status="finished")
    assert run.config["model"]["name"] == "user_net" and run.config["data"]["name"] == "my_data:blobs"
    code = main(["train", "run.yaml", "--import", "my_modelz", "--store", store])
    assert code == 2 and "--import my_modelz: cannot import module 'my_modelz'" in capsys.readouterr().err


def test_module_function_specs_build_the_model_and_the_data(user_code):
    overrides = (
        "data.options.n_train=30",
        "model.name=my_models:build_net",
        "model.act=null",
        "model.kwargs.width=5",
    )
    result = train(tiny_config(None, "data.name=my_data:blobs", "train.epochs=1", *overrides))
    assert result.status == "finished" and result.model[1].out_features == 5
    assert result.history[0]["train_acc"] * 30 == pytest.approx(round(result.history[0]["train_acc"] * 30))


WRONG = "cannot be called with .*unexpected keyword argument"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.name=my_models:missing"], "model.name: module 'my_models' has no attribute 'missing'"),
        (["model.name=no_such_pkg.models:net"], "model.name: cannot import module 'no_such_pkg.models'"),
        (
            ["model.act=tanh"],
            rf"model.name: my_models:build_net\(num_classes, input_shape, width=8\) {WRONG} 'act'",
        ),
        (
            ["data.name=my_data:not_a_dataset"],
            r"data.name: my_data:not_a_dataset\(\) returned list, not splits",
        ),
        (["data.options.size=3"], rf"data.name: my_data:blobs\(root=None, n_train=48\) {WRONG} 'size'"),
    ],
)
def test_clear_errors_for_wrong_user_code(user_code, overrides, message):
    base = ("data.name=my_data:blobs", "model.name=my_models:build_net", "model.act=null")
    config = tiny_config(None, *base, *overrides)
    with pytest.raises(ValueError, match=message):
        train(config)


def test_train_takes_a_model_object_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 7), nn.Tanh(), nn.Linear(7, 3))
    result = train(tiny_config(None, "train.epochs=1"), model=model, data=make_splits())
    assert result.model is model and result.status == "finished"


def test_sweep_workers_import_the_users_module(user_code, capsys):
    sweep = {"study": "mine", "seeds": [0], "config": "run.yaml"}  # one run: one spawned worker
    (user_code / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    store = str(user_code / "r.sqlite")
    assert main(["sweep", "sweep.yaml", "--jobs", "2", "--import", "my_models", "--store", store]) == 0
    assert capsys.readouterr().out.strip() == "1 finished"
