import pytest

from normact.experiments import get_preset
from normact.experiments.results import StudyRuns
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
        runs.preset.analyze(runs)


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
    assert two.status_text().endswith(
        ", 1.0 min wall-clock from the first run's start to the last run's end."
    )


def test_count_text_counts_complete_runs_per_variant() -> None:
    runs = _empty({})
    runs.runs["relu"] = ["run0", "run1"]  # only the number of complete runs is read
    runs.runs["tanh"] = ["run0"]
    assert runs.count_text("activations") == (
        "3 complete runs (2 activations, 1-2 runs each; seeds 0-1), 12 epochs each."
    )
