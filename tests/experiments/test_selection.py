"""Select, then test: the spec's checks, the pick, the selection in the store and runs.csv, a tiny sweep."""

import dataclasses
import math
import textwrap

import numpy as np
import pytest

from normact.experiments import (
    Scale,
    build_report,
    collect_runs,
    describe_presets,
    get_preset,
    list_presets,
    load_preset,
    read_runs_csv,
    register_preset,
    render_markdown,
    reproduce,
    write_runs_csv,
)
from normact.experiments.selection import Point, Selection, choose, point_name
from normact.train import ConfigError, ResultsStore, config_hash, config_to_dict

from .conftest import write_tiny_mnist

# -- the pick --------------------------------------------------------------------------------------


def _point(lr, values, diverged=0, missing=()):
    return Point({"optim.lr": lr}, np.array(values, dtype=float), diverged, tuple(missing))


def test_choose_picks_the_best_mean_and_the_earlier_point_on_a_tie():
    points = [_point(0.1, [0.5, 0.9]), _point(0.01, [0.8, 0.7]), _point(0.001, [0.6, 0.6])]
    assert choose("a", points, "higher").pick == 1  # means 0.7, 0.75, 0.6
    assert choose("a", points, "lower").pick == 2
    tie = [_point(0.1, [0.6, 0.8]), _point(0.01, [0.8, 0.6])]
    assert choose("a", tie, "higher").pick == 0


def test_choose_counts_a_diverged_run_as_worst_and_waits_for_missing_runs():
    diverged = [_point(0.1, [0.99, -math.inf], diverged=1), _point(0.01, [0.5, 0.5])]
    assert choose("a", diverged, "higher").pick == 1
    every = [_point(0.1, [-math.inf], diverged=1), _point(0.01, [-math.inf], diverged=1)]
    assert choose("a", every, "higher").pick == 0  # all diverged: still a pick, the earlier point
    # every point has a diverged run: the fewest diverged runs, then the best mean of the others
    some = [
        _point(0.1, [-math.inf, -math.inf, -math.inf], diverged=3),
        _point(0.05, [-math.inf, -math.inf, 0.9], diverged=2),
        _point(0.025, [-math.inf, 0.6, 0.7], diverged=1),
        _point(0.0125, [0.8, -math.inf, 0.7], diverged=1),
    ]
    assert [p.mean for p in some] == [-math.inf] * 4
    assert math.isnan(some[0].mean_not_diverged) and some[3].mean_not_diverged == pytest.approx(0.75)
    assert choose("a", some, "higher").pick == 3
    worst_low = [_point(0.1, [math.inf, 0.2], diverged=1), _point(0.01, [0.3, math.inf], diverged=1)]
    assert choose("a", worst_low, "lower").pick == 0  # lower is better: 0.2 before 0.3
    waiting = choose("a", [_point(0.1, [0.9]), _point(0.01, [0.2], missing=[(101, "failed")])], "higher")
    assert waiting.pick is None and waiting.picked is None and math.isnan(waiting.points[1].mean)


def test_selection_grid_points_names_and_description():
    sel = Selection(
        {"optim.lr": [0.1, 0.01], "optim.weight_decay": [5e-3, 1e-4]}, (100, 101), "acc", "higher"
    )
    assert sel.points() == [
        {"optim.lr": 0.1, "optim.weight_decay": 5e-3},
        {"optim.lr": 0.1, "optim.weight_decay": 1e-4},
        {"optim.lr": 0.01, "optim.weight_decay": 5e-3},
        {"optim.lr": 0.01, "optim.weight_decay": 1e-4},
    ]
    assert point_name("tanh_swap", sel.points()[1]) == "tanh_swap@optim.lr=0.1,optim.weight_decay=0.0001"
    assert "optim.lr in {0.1, 0.01} x optim.weight_decay in {0.005, 0.0001} (4 points)" in sel.describe()
    assert "selection seeds 100, 101" in sel.describe()
    assert Selection({"x": [1]}, (5,), "m", "lower", ("relu*",)).tuned(["relu", "nrelu", "relu6"]) == [
        "relu",
        "relu6",
    ]


# -- the spec's checks -----------------------------------------------------------------------------

PRESET_YAML = """
name: test-select-yaml
paper: a paper
title: a title
config: {model: {name: lenet5}, data: {name: mnist}, optim: {name: sgd, lr: 0.01}}
metrics:
  acc: {key: test_acc, reduce: last, better: higher}
  score: {key: score, reduce: mean}
  late: {custom: true}
claims: [{text: t, metric: acc, arms: [relu, tanh], direction: greater, test: rank_sum}]
variants: {relu: {model.act: relu}, tanh: {model.act: tanh}}
scales:
  s:
    seeds: 2
    minutes: 1
    verdicts: false
    select: %s
"""


def _load(tmp_path, select):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(PRESET_YAML) % select)
    return load_preset(path)


def test_a_valid_spec_loads(tmp_path):
    preset = _load(tmp_path, "{grid: {optim.lr: [0.1, 0.01]}, seeds: [10, 11], metric: acc, variants: [t*]}")
    sel = preset.scale("s").select
    assert sel == Selection({"optim.lr": [0.1, 0.01]}, (10, 11), "acc", "higher", ("t*",))
    grid = preset.selection_sweep("s")
    assert list(grid.variants) == ["tanh@optim.lr=0.1", "tanh@optim.lr=0.01"]
    assert grid.variants["tanh@optim.lr=0.01"] == {"model.act": "tanh", "optim.lr": 0.01}
    assert grid.seeds == [10, 11]
    assert preset.selection_sweep("s") is not None and preset.sweep("s").variants["tanh"] == {
        "model.act": "tanh"
    }
    picked = preset.sweep("s", picks={"tanh": {"optim.lr": 0.01}})
    assert picked.variants["tanh"] == {"model.act": "tanh", "optim.lr": 0.01}
    with pytest.raises(ValueError, match="would include the selection seeds"):
        preset.sweep("s", seeds=11)


@pytest.mark.parametrize(
    "select, message",
    [
        ("{seeds: [10], metric: acc}", "scale 's', select: missing field 'grid'"),
        (
            "{grid: {optim.lr: [0.1]}, seeds: [10], metric: acc, rule: max}",
            "unknown field 'rule'; valid fields",
        ),
        ("{grid: {optim.lr: []}, seeds: [10], metric: acc}", "grid 'optim.lr' must be a non-empty list"),
        ("{grid: [0.1], seeds: [10], metric: acc}", "grid must map dotted config keys to lists"),
        ("{grid: {optim.lr: [0.1, 0.1]}, seeds: [10], metric: acc}", "grid 'optim.lr' repeats a value"),
        ("{grid: {optim.lr: [0.1]}, seeds: [1, 10], metric: acc}", r"seeds \[1\] are test seeds too"),
        ("{grid: {optim.lr: [0.1]}, seeds: [10, 10], metric: acc}", "seeds must be a list of distinct"),
        ("{grid: {optim.lr: [0.1]}, seeds: 10, metric: acc}", "seeds must be a list of distinct"),
        ("{grid: {optim.lr: [0.1]}, seeds: [10], metric: loss}", "metric 'loss' is not one of the preset's"),
        ("{grid: {optim.lr: [0.1]}, seeds: [10], metric: late}", "metric 'late' is custom"),
        ("{grid: {optim.lr: [0.1]}, seeds: [10], metric: score}", "better None is not one of"),
        ("{grid: {optim.lr: [0.1]}, seeds: [10], metric: acc, better: up}", "better 'up' is not one of"),
        ("{grid: {optim.lr: [0.1]}, seeds: [10], metric: acc, variants: [elu]}", "variants 'elu' matches no"),
    ],
)
def test_a_bad_spec_names_preset_scale_and_field(tmp_path, select, message):
    with pytest.raises(ConfigError, match="preset 'test-select-yaml', scale 's', select") as error:
        _load(tmp_path, select)
    assert error.match(message)


def test_a_grid_key_that_is_no_config_key_is_an_error(tmp_path):
    preset = _load(tmp_path, "{grid: {optim.learning_rate: [0.1]}, seeds: [10], metric: acc}")
    with pytest.raises(ConfigError, match="learning_rate"):
        register_preset(preset)


# -- the selection in a synthetic store ------------------------------------------------------------

# arm -> lr -> best accuracy of selection seeds 7, 8 (None: diverged)
SELECTION = {
    "relu": {0.1: [0.90, 0.80], 0.01: [0.86, 0.87], 0.001: [0.50, 0.60]},  # means .85, .865, .55: 0.01
    "nrelu": {0.1: [0.95, None], 0.01: [0.70, 0.72], 0.001: [0.71, 0.73]},  # 0.1 diverged once: 0.001
}
TEST = {"relu": [0.88, 0.89], "nrelu": [0.75, 0.74]}


@pytest.fixture(scope="module")
def select_preset():
    name = "test-lenet-select"
    if name not in list_presets():
        base = get_preset("anact-lenet5")
        select = Selection({"optim.lr": [0.1, 0.01, 0.001]}, (7, 8), "best_acc", "higher")
        analysis = {"threshold": 0.8, "columns": [1, 2]}
        scale = Scale("s", seeds=2, minutes=1, config={"train.epochs": 2}, analysis=analysis, select=select)
        variants = {v: base.variants[v] for v in ("relu", "nrelu")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"s": scale}))
    return name


def _add(db, cfg, acc):
    run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                          config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
    if acc is None:
        db.log_epoch(run_id, 1, {"test_acc": 0.99, "time": 1.0})
        db.finish_run(run_id, "diverged", diverged_epoch=2)
        return
    for epoch in (1, 2):
        db.log_epoch(run_id, epoch, {"test_acc": acc - 0.1 * (epoch == 1), "time": 1.0})
    db.finish_run(run_id, "finished")


@pytest.fixture
def select_store(tmp_path, select_preset):
    preset = get_preset(select_preset)
    path = tmp_path / "normact.sqlite"
    db = ResultsStore(path)
    for cfg in preset.selection_sweep("s").configs():
        arm = cfg.variant.partition("@")[0]
        _add(db, cfg, SELECTION[arm][cfg.optim.lr][cfg.train.seed - 7])
    picks = {"relu": {"optim.lr": 0.01}, "nrelu": {"optim.lr": 0.001}}
    for cfg in preset.sweep("s", picks=picks).configs():
        _add(db, cfg, TEST[cfg.variant][cfg.train.seed])
    unpicked = preset.sweep("s").configs()[0]  # the base lr 0.01 of the preset: not a test run now
    _add(db, dataclasses.replace(unpicked, variant="relu"), 0.1)
    return path


def test_the_picks_and_the_test_runs_from_the_store(select_store, select_preset, tmp_path):
    runs = collect_runs(get_preset(select_preset), "s", select_store)
    assert runs.picks == {"relu": {"optim.lr": 0.01}, "nrelu": {"optim.lr": 0.001}}
    means = {arm: [p.mean for p in c.points] for arm, c in runs.selection.items()}
    assert means["relu"] == pytest.approx([0.85, 0.865, 0.55])
    assert means["nrelu"][0] == -math.inf and means["nrelu"][1:] == pytest.approx([0.71, 0.72])
    # the runs judged are the test runs made with the picks, never the selection runs
    assert runs.variants == ["relu", "nrelu"] and runs.n_runs == 4 and not runs.missing
    assert [r.seed for r in runs.runs["relu"]] == [0, 1] and not runs.exploratory
    hashes = {
        c.variant: config_hash(c) for c in get_preset(select_preset).sweep("s", 1, picks=runs.picks).configs()
    }
    assert runs.runs["nrelu"][0].config_hash == hashes["nrelu"]
    assert runs.variant_overrides()["nrelu"]["optim.lr"] == 0.001
    text = render_markdown(build_report(select_preset, "s", select_store))
    assert "## Selection, then test" in text
    assert "optim.lr in {0.1, 0.01, 0.001} (3 points), each on selection seeds 7, 8" in text
    assert "| ReLU | lr 0.01 | 85.00 | **86.50** | 55.00 |" in text
    assert "| NReLU | lr 0.001 | -∞ (1 div., the others 95.00) | 71.00 | **72.00** |" in text
    assert "nrelu: model.act=nrelu, optim.lr=0.001" in text  # the settings
    assert "| selected per arm | optim.lr: each tuned arm's pick replaces the value above" in text
    # runs.csv keeps the selection runs, and the report rebuilt from it makes the same picks
    csv = write_runs_csv(runs, tmp_path / "runs.csv")
    assert sum("@optim.lr=" in line for line in csv.read_text().splitlines()) == 12
    again = read_runs_csv(get_preset(select_preset), "s", csv)
    assert again.picks == runs.picks and again.n_runs == 4 and not again.exploratory
    rebuilt = render_markdown(build_report(select_preset, "s", runs_csv=csv))
    assert _section(rebuilt, "Selection, then test") == _section(text, "Selection, then test")
    assert _section(rebuilt, "Verdicts") == _section(text, "Verdicts")


def _section(text, heading):
    start = text.index(f"## {heading}")
    return text[start : text.index("\n## ", start + 1)]


def test_an_arm_with_a_missing_selection_run_awaits_its_pick(select_store, select_preset):
    db = ResultsStore(select_store)
    (record,) = [
        r for r in db.runs(study=select_preset) if r.variant == "nrelu@optim.lr=0.01" and r.seed == 8
    ]
    db.delete_runs([record.id])
    runs = collect_runs(get_preset(select_preset), "s", select_store)
    assert runs.picks == {"relu": {"optim.lr": 0.01}} and runs.selection["nrelu"].pick is None
    assert runs.runs["nrelu"] == [] and runs.missing["nrelu"] == [
        (0, "awaiting selection"),
        (1, "awaiting selection"),
    ]
    text = render_markdown(build_report(select_preset, "s", select_store))
    assert "| NReLU | awaiting selection | -∞ (1 div., the others 95.00) | – (1 missing) | 72.00 |" in text


# -- a tiny sweep end to end -----------------------------------------------------------------------


def test_tiny_sweep_selects_then_tests_and_resumes(tmp_path):
    """Two arms x two learning rates on two selection seeds, then one test seed with each arm's pick."""
    write_tiny_mnist(tmp_path / "data" / "mnist", n_train=96, n_test=48)
    name = "test-lenet-select-tiny"
    if name not in list_presets():
        base = get_preset("anact-lenet5")
        select = Selection({"optim.lr": [0.05, 0.0001]}, (20, 21), "best_acc", "higher")
        config = {"data.name": "mnist", "train.epochs": 1, "data.batch_size": 16, "train.probe_samples": 16}
        analysis = {"threshold": 0.5, "columns": [1]}
        scale = Scale("smoke", seeds=1, minutes=0.2, config=config, analysis=analysis, verdicts=False,
                      select=select)  # fmt: skip
        variants = {v: base.variants[v] for v in ("relu", "tanh")}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"smoke": scale}))
    store = tmp_path / "r.sqlite"
    result = reproduce(name, "smoke", store=store, data_dir=tmp_path / "data")
    assert not result.failed and [i.status for i in result.items].count("finished") == 2 * 2 * 2 + 2
    db = ResultsStore(store)
    records = db.runs(study=name)
    best = {}
    for arm in ("relu", "tanh"):
        means = {}
        for lr in (0.05, 0.0001):
            accs = [
                max(m.value for m in db.metrics([r.id]) if m.key == "test_acc")
                for r in records
                if r.variant == point_name(arm, {"optim.lr": lr})
            ]
            assert len(accs) == 2
            means[lr] = np.mean(accs)
        best[arm] = max(means, key=lambda lr: (means[lr], lr == 0.05))  # the earlier point wins a tie
        (test,) = [r for r in records if r.variant == arm]
        assert test.seed == 0 and test.config["optim"]["lr"] == best[arm]
    assert result.report is not None and "## Selection, then test" in result.path.read_text()
    assert (result.path.parent / "runs.csv").is_file()
    again = reproduce(name, "smoke", store=store, data_dir=tmp_path / "data")
    assert {i.status for i in again.items} == {"skipped"} and len(again.items) == 10
    listing = describe_presets()
    assert "select, then test: 8 selection runs first; optim.lr in {0.05, 0.0001}" in listing
