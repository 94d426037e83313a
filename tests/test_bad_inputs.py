"""Bad input, family by family: one short line naming the culprit, exit code 2, the store untouched.

Each case runs the command line in-process against a results store that already holds one finished
run, and checks the exit code, that stderr names the culprit in at most two lines without a
traceback, and that the store's contents are what they were.
"""

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from normact.cli import main
from normact.functional import NonFiniteStatistics
from normact.nn import SSELU, NReLU, NSwish
from normact.train import checkpoint_path, config_to_dict, load_checkpoint, load_config
from train.tinyrun import tiny_config  # tests/ is on sys.path, as for every test module

pytest.importorskip("sklearn", reason="the wine data ship with scikit-learn")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A run config on scikit-learn's wine data, a store holding its finished run, and its checkpoint."""
    root = tmp_path_factory.mktemp("finished")
    config = root / "run.yaml"
    config.write_text(
        yaml.safe_dump(config_to_dict(tiny_config(root / "runs", "data.name=wine", "train.epochs=1")))
    )
    store = root / "r.sqlite"
    assert main(["train", str(config), "--store", str(store)]) == 0
    with sqlite3.connect(store) as conn:  # every page into the main file, so that a cut damages rows
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root


@pytest.fixture
def env(finished, tmp_path):
    """A copy of the finished run's folder: config, store and checkpoints."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    config = tmp_path / "run.yaml"
    yaml_config = yaml.safe_load(config.read_text())
    yaml_config["train"]["out_dir"] = str(tmp_path / "runs")
    config.write_text(yaml.safe_dump(yaml_config))
    return tmp_path


def _dump(store: Path) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _check(capsys, argv, culprit, code=2, store=None):
    """Run ``normact argv``; the answer is ``code`` and one or two lines naming ``culprit``."""
    before = _dump(store) if store is not None else None
    assert main([str(a) for a in argv]) == code
    err = capsys.readouterr().err.strip()
    if code == 2:
        assert "Traceback" not in err and 1 <= len(err.splitlines()) <= 2, err
        assert culprit in err, err
    if store is not None:
        assert _dump(store) == before


def _train(env, *args):
    return ["train", env / "run.yaml", *args, "--store", env / "r.sqlite"]


CONFIG = [
    ("optim.lr=-0.1", "'optim.lr'"),
    ("optim.lr=-inf", "'optim.lr'"),
    ("optim.lr=nan", "'optim.lr'"),
    ("optim.lr=inf", "'optim.lr'"),
    ("optim.lr=abc", "'optim.lr'"),
    ("optim.lr", "'optim.lr'"),
    ("optim.momentum=-5", "'optim.momentum'"),
    ("optim.momentum=1", "'optim.momentum'"),
    ("optim.weight_decay=-1", "'optim.weight_decay'"),
    ("optim.eps=0", "'optim.eps'"),
    ("optim.betas=[1.5, 0.9]", "'optim.betas[0]'"),
    ("optim.clip_grad_norm=0", "'optim.clip_grad_norm'"),
    ("optim.clip_grad_value=-1", "'optim.clip_grad_value'"),
    ("optim.weight_decay_groups={bias: -1}", "'optim.weight_decay_groups.bias'"),
    ("optim.name=rmsprop", "'optim.name'"),
    ("optim.lrr=0.1", "'optim.lrr'"),
    ("schedule.gamma=0", "'schedule.gamma'"),
    ("schedule.step_size=0", "'schedule.step_size'"),
    ("schedule.milestones=[0]", "'schedule.milestones'"),
    ("schedule.warmup_epochs=-1", "'schedule.warmup_epochs'"),
    ("schedule.warmup_start_factor=-0.1", "'schedule.warmup_start_factor'"),
    ("schedule.min_lr=-1", "'schedule.min_lr'"),
    ("schedule.name=linear", "'schedule.name'"),
    ("data.batch_size=0", "'data.batch_size'"),
    ("data.mixup_alpha=nan", "'data.mixup_alpha'"),
    ("data.transforms=[{name: Blur}]", "'Blur'"),
    ("data.transforms=[{name: RandomCrop, sz: 3}]", "'sz'"),
    ("data.transforms=[{size: 3}]", "'data.transforms[0]'"),
    ("data.transforms=[{name: RandomCrop, size: -3}]", "'data.transforms[0]'"),
    ("data.name=nosuch", "'nosuch'"),
    ("model.name=nosuch", "'nosuch'"),
    (("model.name=mlp", "model.act=nrelux"), "'nrelux'"),
    (("model.name=mlp", "model.kwargs.foo=1"), "'foo'"),
    (("model.name=mlp", "model.kwargs.width=-1"), "'model'"),
    (("model.name=mlp", "model.kwargs.depth=a"), "'model'"),
    ("train.epochs=0", "'train.epochs'"),
    ("train.device=tpu", "'train.device'"),
    ("train.label_smoothing=1", "'train.label_smoothing'"),
    ("train.task=segmentation", "'train.task'"),
    ("train.progress=loud", "'train.progress'"),
    ("train.seed=1.5", "'train.seed'"),
    ("data=3", "'data'"),
]


@pytest.mark.parametrize(("overrides", "culprit"), CONFIG, ids=[str(c[0]) for c in CONFIG])
def test_config(env, capsys, overrides, culprit):
    overrides = overrides if isinstance(overrides, tuple) else (overrides,)
    _check(capsys, _train(env, *overrides), culprit, store=env / "r.sqlite")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is there")
def test_config_device_not_on_this_machine(env, capsys):
    culprit = "train.device=cuda but CUDA is not available"
    _check(capsys, _train(env, "train.device=cuda"), culprit, store=env / "r.sqlite")


FILES = [
    ("broken.yaml", b"optim: {lr: [0.1\n", "not valid YAML"),
    ("binary.yaml", bytes(range(256)), "not a UTF-8 text file"),
    ("list.yaml", b"- 1\n- 2\n", "must hold a mapping"),
    ("missing.yaml", None, "does not exist"),
]


@pytest.mark.parametrize(("name", "content", "problem"), FILES, ids=[f[0] for f in FILES])
def test_config_file(env, capsys, name, content, problem):
    if content is not None:
        (env / name).write_bytes(content)
    argv = ["train", env / name, "--store", env / "r.sqlite"]
    _check(capsys, argv, name, store=env / "r.sqlite")
    _check(capsys, argv, problem, store=env / "r.sqlite")


SWEEPS = [
    ({"config": "run.yaml", "variants": ["relu", "tanh"]}, "'variants'"),
    ({"config": "run.yaml", "seed": [0]}, "'seed'"),
    ({"config": "run.yaml", "seeds": ["a"]}, "'seeds'"),
    ({"config": "run.yaml", "variants": {"relu": 3}}, "'relu'"),
    ({"config": "nosuch.yaml"}, "nosuch.yaml"),
]


@pytest.mark.parametrize(("sweep", "culprit"), SWEEPS, ids=[s[1] for s in SWEEPS])
def test_sweep(env, capsys, sweep, culprit):
    (env / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    _check(
        capsys, ["sweep", env / "sweep.yaml", "--store", env / "r.sqlite"], culprit, store=env / "r.sqlite"
    )


def test_data(env, capsys):
    folder = env / "fmnist"
    folder.mkdir()
    for split in ("train", "t10k"):
        for part in ("images-idx3", "labels-idx1"):
            (folder / f"{split}-{part}-ubyte.gz").write_bytes(b"\x1f\x8b damaged")
    store = env / "r.sqlite"
    damaged = _train(env, "data.name=fashion_mnist", f"data.root={folder}")
    _check(capsys, damaged, "train-images-idx3-ubyte.gz: damaged gzip stream", store=store)
    _check(capsys, damaged, "so that the files are in <dir>/fashion-mnist", store=store)
    _check(
        capsys, _train(env, "data.name=fashion_mnist", f"data.root={env / 'nowhere'}"), "nowhere", store=store
    )


class Payload:
    """A pickled object in a checkpoint: never loaded."""


def _checkpoints(env):
    """name -> a function that spoils the finished run's checkpoint."""
    good = load_checkpoint(checkpoint_path(load_config(env / "run.yaml")))

    def write(data):
        return lambda path: path.write_bytes(data)

    def save(state):
        return lambda path: torch.save(state, path)

    return {
        "empty": write(b""),
        "garbage": write(b"garbage" * 100),
        "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        "missing key": save({k: v for k, v in good.items() if k != "optimizer"}),
        "wrong shape": save({**good, "model": {**good["model"], "fc1.weight": torch.zeros(2, 2)}}),
        "other config": save({**good, "config_hash": "0" * 64}),
        "pickled code": save({**good, "extra": Payload()}),
        "old format": save({**good, "format_version": 0}),
    }


@pytest.mark.parametrize(
    "damage",
    [
        "empty",
        "garbage",
        "truncated",
        "missing key",
        "wrong shape",
        "other config",
        "pickled code",
        "old format",
    ],
)
def test_checkpoint(env, capsys, damage):
    path = checkpoint_path(load_config(env / "run.yaml"))
    _checkpoints(env)[damage](path)
    store = env / "r.sqlite"
    before = _dump(store)
    assert main([str(a) for a in ["train", env / "run.yaml", "--store", store, "--resume"]]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "Traceback" not in err and len(err.splitlines()) == 1 and str(path) in err and "delete it" in err
    ), err
    assert _dump(store) == before


def test_checkpoint_folder_not_writable(env, capsys):
    (env / "file").write_text("")
    _check(
        capsys,
        _train(env, f"train.out_dir={env / 'file'}", "train.epochs=2"),
        "train.out_dir",
        store=env / "r.sqlite",
    )


def _stores(env):
    good = (env / "r.sqlite").read_bytes()

    def newer(path):
        path.write_bytes(good)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 99")
        conn.close()

    return {
        "garbage": lambda path: path.write_bytes(b"\x00garbage" * 1000),
        "text": lambda path: path.write_text("id,study\n1,a\n"),
        "truncated": lambda path: path.write_bytes(good[: len(good) // 3]),
        "newer schema": newer,
        "a folder": lambda path: path.mkdir(),
    }


@pytest.mark.parametrize("damage", ["garbage", "text", "truncated", "newer schema", "a folder"])
@pytest.mark.parametrize("command", ["runs", "train"])
def test_store(env, capsys, damage, command):
    path = env / "bad.sqlite"
    _stores(env)[damage](path)
    before = path.read_bytes() if path.is_file() else None
    argv = ["runs", "--store", path] if command == "runs" else [*_train(env)[:-1], path]
    _check(capsys, argv, str(path))
    assert (path.read_bytes() if path.is_file() else None) == before


def test_store_under_a_file(env, capsys):
    (env / "file").write_text("")
    _check(capsys, [*_train(env)[:-1], env / "file" / "r.sqlite"], "file")


LAYERS = [
    (lambda: NSwish(instance=True)(torch.zeros(0, 4)), ValueError, "at least one sample"),
    (lambda: NSwish(instance=True)(torch.zeros(4)), ValueError, "batch dimension"),
    (lambda: NSwish()(torch.arange(6).reshape(2, 3)), TypeError, "input dtype torch.int64 .* not supported"),
    (lambda: NReLU()(torch.arange(6).reshape(2, 3)), TypeError, "input dtype torch.int64 .* not supported"),
    (lambda: SSELU()(torch.arange(6).reshape(2, 3)), TypeError, "sselu: input dtype torch.int64"),
    (lambda: NSwish()(torch.tensor([[0.0, float("inf")], [1.0, 2.0]])), NonFiniteStatistics, "non-finite"),
    (lambda: NReLU()(torch.full((2, 3), float("nan"))), NonFiniteStatistics, "non-finite"),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    LAYERS,
    ids=["empty-instance", "1d-instance", "int-nswish", "int-nrelu", "int-sselu", "inf", "nan"],
)
def test_layers(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    assert len(str(info.value).splitlines()) == 1


THEORY = [
    (["theory", "relu", "--std", "-1"], "std"),
    (["theory", "relu", "--mean", "nan"], "mean"),
    (["theory", "seluu"], "'seluu'"),
    (["theory", "elu", "--param", "alpha"], "--param"),
    (["theory", "elu", "--param", "alpha=x"], "--param"),
    (["theory"], "name an activation"),
    (["solve", "lselu", "--eps", "0.3"], "feasible eps lie in (0, 0.0798"),
    (["solve", "sselu", "--eps", "0"], "eps"),
    (["solve", "sselu", "--eps", "nan"], "eps"),
    (["solve", "dselu", "--eps", "0.05", "--central"], "centralised"),
    (["solve", "sselu"], "--eps"),
]


@pytest.mark.parametrize(("argv", "culprit"), THEORY, ids=[" ".join(a) for a, _ in THEORY])
def test_theory_and_solver(capsys, argv, culprit):
    _check(capsys, argv, culprit)


def test_undefined_quantities_do_not_refuse_the_report(capsys):
    assert main(["theory", "relu", "--std", "0"]) == 0
    out = capsys.readouterr().out
    assert "GPN gain sqrt(E[x^2] / E[f^2])           undefined" in out and "E[f]" in out


def test_solver_on_a_bound_says_so(capsys):
    assert main(["solve", "sselu", "--eps", "5"]) == 0
    assert (
        "converged: False (the infimum gamma = |1 - eps/2| = 1.5 lies at beta -> inf"
        in capsys.readouterr().out
    )


PLUMBING = [
    (["runs", "--store", "missing.sqlite"], "missing.sqlite"),
    (["reproduce", "nosuch"], "'nosuch'"),
    (["report", "nosuch"], "'nosuch'"),
    (["reproduce"], "name a preset"),
    (["report"], "name a preset"),
]


@pytest.mark.parametrize(("argv", "culprit"), PLUMBING, ids=[" ".join(a) for a, _ in PLUMBING])
def test_cli_plumbing(tmp_path, monkeypatch, capsys, argv, culprit):
    monkeypatch.chdir(tmp_path)
    _check(capsys, argv, culprit)


@pytest.mark.parametrize("argv", [["nosuch"], ["runs", "--status", "bogus"], ["solve", "tanh", "--eps", "1"]])
def test_argparse_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_a_finished_run_is_not_started_again(env, capsys):
    _check(capsys, _train(env), "--rerun replaces that result", store=env / "r.sqlite")


def test_runs_into_a_closed_pipe(env):
    # `normact runs | head -1`: the pipe closes early; no BrokenPipeError traceback
    cmd = f"{sys.executable} -m normact runs --store {env / 'r.sqlite'} | head -c 10"
    columns = "variant, seed, config_hash, config, status, created_at, started_at, updated_at"
    for _ in range(12):  # 4096 rows: more than the pipe holds
        with sqlite3.connect(env / "r.sqlite") as conn:
            study = "'r' || (id + (SELECT max(id) FROM runs))"  # new and unique
            conn.execute(f"INSERT INTO runs (study, {columns}) SELECT {study}, {columns} FROM runs")
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("id") and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
