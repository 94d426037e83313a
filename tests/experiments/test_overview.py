"""`report --all` over a store with several presets, and `reproduce --list` over every preset."""

import dataclasses

import pytest

from normact.cli import main
from normact.experiments import Scale, get_preset, list_presets, register_preset, report_all
from normact.experiments.reproduce import describe_presets
from normact.train import ResultsStore, config_hash, config_to_dict


def _register(name, base_name, variants, scale):
    if name not in list_presets():
        base = get_preset(base_name)
        keep = {v: base.variants[v] for v in variants}
        register_preset(dataclasses.replace(base, name=name, variants=keep, scales={scale.name: scale}))
    return get_preset(name)


def _fill(store, preset, scale, acc):
    db = ResultsStore(store)
    for cfg in preset.sweep(scale).configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        for epoch in range(1, cfg.train.epochs + 1):
            a = acc[cfg.variant] + 0.01 * cfg.train.seed + 0.02 * epoch
            db.log_epoch(run_id, epoch, {"test_acc": a, "score": 1.0, "time": 1.0, "weight_mean/w": 0.01})
        db.finish_run(run_id, "finished")


def test_report_all_with_several_presets(synth_store, synth_preset):
    vgg = _register("test-overview-vgg", "anact-vgg", ("relu", "nrelu"),
                    Scale("cpu", seeds=4, minutes=1, config={"train.epochs": 2}))  # fmt: skip
    broken = _register("test-overview-broken", "anact-lenet5", ("relu", "nrelu"),
                       Scale("s", seeds=2, minutes=1, config={"train.epochs": 2},
                             analysis={"threshold": 0.5, "columns": [9]}))  # fmt: skip
    _fill(synth_store, vgg, "cpu", {"relu": 0.5, "nrelu": 0.7})
    _fill(synth_store, broken, "s", {"relu": 0.5, "nrelu": 0.7})
    out = synth_store.parent / "docs"
    reports, overview = report_all(synth_store, out)
    assert overview == out / "overview.md"
    assert [(r.preset, r.scale) for r in reports] == [(synth_preset, "s"), (vgg.name, "cpu")]  # by name
    text = overview.read_text()
    # the cpu scale's report sits at <out>/<preset>/ (as committed under docs/results/), others below it
    assert (out / vgg.name / "report.md").is_file() and (out / vgg.name / "figure5.png").is_file()
    assert (out / synth_preset / "s" / "report.md").is_file()
    assert text.count(f"| [{vgg.name}]({vgg.name}/report.md) | cpu | ") == 1 + 2  # reports row + 2 verdicts
    assert text.count(f"| [{synth_preset}]({synth_preset}/s/report.md) | s | ") == 1 + 7
    assert (
        "With BN, NReLU reaches a higher top-1 accuracy than ReLU (Table 2) | **supports** (confounded) | "
        "**supports** |" in text
    )
    assert (
        f"| {vgg.paper} | 1 / 1 | 0 / 0 | 1 / 1 |" in text
    )  # supports, contradicts, inconclusive: raw / Holm
    assert "after Holm's correction within each report" in text and "runs.csv" in text
    assert "## Not reported" in text
    assert f"- `{broken.name}` at scale `s`: ValueError: analysis column 9 is past the last epoch (2)" in text
    assert (out / "overview.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / broken.name).exists()


def test_report_all_from_the_command_line(synth_store, synth_preset, capsys, tmp_path):
    assert main(["report", "--all", "--store", str(synth_store), "--out", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith("# Paper claims: overview") and f"overview: {tmp_path / 'res' / 'overview.md'}" in out
    )
    assert (tmp_path / "res" / synth_preset / "s" / "report.md").is_file()


def test_report_all_rebuilds_every_report_from_the_runs_csv_files(synth_store, synth_preset, tmp_path):
    """The reports and the overview of a folder of reports come back the same without the store."""
    reports, overview = report_all(synth_store, tmp_path / "res")
    again, rebuilt = report_all(runs_dir=tmp_path / "res", out=tmp_path / "again")
    assert [(r.preset, r.scale) for r in again] == [(r.preset, r.scale) for r in reports]
    assert rebuilt.read_text() == overview.read_text()
    for r in reports:
        folder = f"{r.preset}/{r.scale}" if r.scale != "cpu" else r.preset
        assert (tmp_path / "again" / folder / "report.md").read_text() == (
            tmp_path / "res" / folder / "report.md"
        ).read_text()
        assert not (tmp_path / "again" / folder / "runs.csv").exists()  # the source is not copied
    with pytest.raises(FileNotFoundError, match=r"holds no <preset>/runs\.csv of a preset's report"):
        report_all(runs_dir=tmp_path / "again")
    with pytest.raises(FileNotFoundError, match="no such folder of reports"):
        report_all(runs_dir=tmp_path / "nowhere")


def test_list_shows_every_preset_with_its_paper_claims_and_estimates():
    text = describe_presets()
    for name in list_presets():
        preset = get_preset(name)
        assert f"{name}: {preset.title}" in text and f"  paper: {preset.paper}" in text
        for claim in preset.claims:
            assert f"    - {claim.text}" in text
        for scale in preset.scales.values():
            seeds = f"{scale.seeds} seed{'s' if scale.seeds != 1 else ''}"
            variants = len(preset.variants_of(scale.name))
            assert f"    {scale.name}: {variants} variants x {seeds}, about " in text
    for shipped in ("anact-lenet5", "anact-vgg", "anact-resnet50", "anact-transformer"):
        assert shipped in list_presets()
    assert "full-tiny-imagenet: 8 variants x 4 seeds, about 2,361 days" in text
