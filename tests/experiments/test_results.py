from datetime import datetime

import numpy as np
import pytest

from normact.experiments import analyze, collect_runs, get_preset, read_runs_csv, report, write_runs_csv
from normact.experiments.results import StudyRuns, busy_seconds
from normact.train import load_config


def _empty(missing: dict[str, list[tuple[int, str]]]) -> StudyRuns:
    preset = get_preset("anact-lenet5")
    scale = preset.scale("cpu")
    runs = {v: [] for v in preset.variants}
    return StudyRuns(preset, scale, load_config(preset.config), 12, [0, 1], runs, missing, 90.0, None)


def test_an_analysis_without_any_complete_run_names_the_study() -> None:
    runs = _empty({})
    with pytest.raises(ValueError, match="no complete run of anact-lenet5 at scale cpu in the store"):
        runs.complete_variants()
    with pytest.raises(ValueError, match="no complete run of anact-lenet5"):
        analyze(runs)


def test_status_text_lists_missing_runs_and_the_time_taken() -> None:
    one = _empty({"relu": [(1, "failed")]}).status_text(str.upper)
    assert one == (
        "**1 run is missing** and left out: RELU: seed 1 (failed). "
        "Training took 1.5 min of compute (sum of epoch times)."
    )
    two = _empty({"relu": [(1, "failed"), (2, "running")]})
    two.wall_seconds = 60.0
    assert two.status_text().startswith(
        "**2 runs are missing** and left out: relu: seed 1 (failed), seed 2 (running)."
    )
    assert two.status_text().endswith(", 1.0 min wall-clock while runs were in progress.")


def test_wall_clock_counts_only_the_time_runs_were_in_progress() -> None:
    t = [datetime(2026, 1, 1, 12, m) for m in range(60)]
    # two overlapping runs (12:00-12:10, 12:05-12:12), one inside them, then a later sitting (12:40-12:43)
    spans = [(t[40], t[43]), (t[0], t[10]), (t[5], t[12]), (t[6], t[8])]
    assert busy_seconds(spans) == (12 + 3) * 60
    assert busy_seconds([(t[0], t[1])]) == 60


def test_count_text_counts_complete_runs_per_variant() -> None:
    runs = _empty({})
    runs.runs["relu"] = ["run0", "run1"]  # only the number of complete runs is read
    runs.runs["tanh"] = ["run0"]
    assert runs.count_text("activations") == (
        "3 complete runs (2 activations, 1-2 runs each; seeds 0-1), 12 epochs each."
    )


def test_runs_csv_rebuilds_the_report_without_the_store(synth_store, synth_preset, tmp_path):
    preset = get_preset(synth_preset)
    runs = collect_runs(preset, "s", synth_store)
    path = write_runs_csv(runs, tmp_path / "runs.csv")
    back = read_runs_csv(preset, "s", path)
    assert back.missing == runs.missing and back.seeds == runs.seeds and back.epochs == runs.epochs
    for v in runs.runs:
        assert [(r.seed, r.status, r.diverged_epoch) for r in back.runs[v]] == [
            (r.seed, r.status, r.diverged_epoch) for r in runs.runs[v]
        ]
        for a, b in zip(back.runs[v], runs.runs[v], strict=True):
            assert a.metrics.keys() == b.metrics.keys()
            for k in a.metrics:
                np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    assert back.compute_seconds == runs.compute_seconds and back.wall_seconds == runs.wall_seconds
    from_store, from_csv = analyze(runs), report(synth_preset, "s", runs_csv=path)[0]
    assert [(v.claim, v.status, v.status_holm, v.evidence) for v in from_csv.verdicts] == [
        (v.claim, v.status, v.status_holm, v.evidence) for v in from_store.verdicts
    ]
    assert (tmp_path / "report.md").is_file()  # written beside the CSV


def test_runs_csv_of_another_preset_version_is_refused(synth_store, synth_preset, tmp_path):
    preset = get_preset(synth_preset)
    path = write_runs_csv(collect_runs(preset, "s", synth_store), tmp_path / "runs.csv")
    text = path.read_text().splitlines()
    row = text[1].split(",")
    row[4] = "f" * 64
    path.write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n")
    with pytest.raises(ValueError, match=r"line 2: relu seed 0 was run with config hash f{12}.*changed"):
        read_runs_csv(preset, "s", path)
