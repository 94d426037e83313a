"""anact-transformer: its runs, the analysis on a synthetic store, and the smoke scale end to end."""

import dataclasses

import pytest
from scipy import stats as sps

from normact.experiments import build_report, get_preset, list_presets, register_preset, render_markdown
from normact.experiments import reproduce as run_reproduce
from normact.functional import fused_kernels
from normact.train import ResultsStore, config_hash, config_to_dict, train, with_overrides

WORDS = {"eins": "one", "zwei": "two", "drei": "three", "vier": "four"}


def write_tiny_iwslt(folder, n_train=40, n_test=10):
    """IWSLT-style files: sentences of German number words and their word-by-word translations."""
    folder.mkdir(parents=True, exist_ok=True)
    de_words, en_words = list(WORDS), list(WORDS.values())
    for split, n in (("train", n_train), ("test", n_test)):
        rows = [[(i * 7 + j * 3) % 4 for j in range(2 + i % 4)] for i in range(n)]
        (folder / f"{split}.de").write_text("\n".join(" ".join(de_words[k] for k in r) for r in rows) + "\n")
        (folder / f"{split}.en").write_text("\n".join(" ".join(en_words[k] for k in r) for r in rows) + "\n")


def test_anact_transformer_runs_follow_the_papers_recipe():
    preset = get_preset("anact-transformer")
    assert len(preset.variants) == 17 and set(preset.scales) == {"smoke", "cpu", "full"}
    full = {c.variant: c for c in preset.sweep("full").configs() if c.train.seed == 0}
    swish, nrelu = full["nswish_6swish_12l_2048"], full["nrelu_3relu_6l_2048"]
    assert (swish.train.task, swish.data.name, swish.train.epochs) == ("translation", "iwslt", 20)
    assert (swish.optim.lr, swish.optim.clip_grad_norm, swish.model.kwargs["dropout"]) == (5e-4, 3.0, 0.5)
    assert (swish.schedule.name, swish.schedule.warmup_steps, swish.data.options["max_len"]) == (
        "inverse_sqrt", 4000, 50)  # fmt: skip
    kw = swish.model.kwargs
    assert (kw["num_encoder_layers"], kw["dim_feedforward"], kw["plain_top"], swish.data.batch_size) == (
        12, 2048, 6, 128)  # fmt: skip
    kw = nrelu.model.kwargs
    assert (kw["num_decoder_layers"], kw["plain_top"], nrelu.data.batch_size, nrelu.model.act) == (
        6, 3, 256, "nrelu")  # fmt: skip
    assert swish.model.init == "deepnorm" and swish.train.label_smoothing == 0.0
    assert len(preset.claims) == 4


def test_cpu_scale_narrows_the_claims_arms_on_the_generated_task():
    """The cpu scale: the seven arms the claims compare, the paper's depths and FFN-width ratios."""
    preset = get_preset("anact-transformer")
    cpu = {c.variant: c for c in preset.sweep("cpu").configs() if c.train.seed == 0}
    assert set(cpu) == {name for claim in preset.claims for arm in claim.arms for name in arm.names}
    assert preset.scale("cpu").seeds == 4 and "stand-in for IWSLT" in preset.scale("cpu").notes
    full = {c.variant: c for c in preset.sweep("full").configs() if c.train.seed == 0}
    for name, cfg in cpu.items():
        kw, paper = cfg.model.kwargs, full[name].model.kwargs
        assert (cfg.data.name, cfg.data.options["tokenizer"], cfg.train.task) == (
            "synthetic_translation", "bpe", "translation")  # fmt: skip
        assert kw["d_model"] == 32 and cfg.model.act == full[name].model.act
        for key in ("num_encoder_layers", "num_decoder_layers", "plain_top", "nhead"):
            assert kw.get(key) == paper.get(key), (name, key)
        assert kw["dim_feedforward"] / kw["d_model"] == paper["dim_feedforward"] / paper["d_model"]
        assert (cfg.train.beam, cfg.model.init) == (5, "deepnorm")


def test_a_cpu_scale_run_learns_on_a_few_generated_pairs(tmp_path):
    """One cpu-scale arm, shrunk to 128 pairs and 2 epochs: it trains end to end and its loss falls."""
    preset = get_preset("anact-transformer")
    cfg = next(c for c in preset.sweep("cpu", 1).configs() if c.variant == "nrelu_3relu_6l_2048")
    small = {"num_train": 128, "num_test": 4, "max_words": 6, "tokenizer": "bpe", "max_vocab": 1000}
    cfg = with_overrides(cfg, {"data.options": small, "data.batch_size": 32, "train.epochs": 2,
                               "schedule.warmup_steps": 4,
                               "train.out_dir": None, "train.progress": "none"})  # fmt: skip
    store = ResultsStore(tmp_path / "r.sqlite")
    with fused_kernels(False):
        result = train(cfg, store)
    history = store.history(result.run_id)
    assert result.status == "finished" and len(history) == 2
    assert history[-1]["train_loss"] < history[0]["train_loss"] and 0 <= history[-1]["bleu"] <= 100


@pytest.fixture(scope="module")
def transformer_synth():
    name = "test-transformer-synth"
    if name not in list_presets():
        base = get_preset("anact-transformer")
        keep = ("swish_12l_2048", "nswish_12l_2048", "nswish_6swish_12l_2048", "relu_6l_512")
        scale = dataclasses.replace(base.scale("full"), name="s", config={"train.epochs": 2})
        variants = {v: base.variants[v] for v in keep}
        register_preset(dataclasses.replace(base, name=name, variants=variants, scales={"s": scale}))
    return name


LAST = {
    "swish_12l_2048": [29.0, 28.5, 29.5, 28.0],
    "nswish_12l_2048": [11.0, 12.0, 28.6, 10.0],
    "nswish_6swish_12l_2048": [29.2, 28.8, 29.9, 29.1],
    "relu_6l_512": [27.0, 27.5, 26.0, 27.2],
}


def test_analysis_on_a_synthetic_store(tmp_path, transformer_synth):
    db = ResultsStore(tmp_path / "r.sqlite")
    for cfg in get_preset(transformer_synth).sweep("s").configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        bleu = LAST[cfg.variant][cfg.train.seed]
        db.log_epoch(run_id, 1, {"bleu": bleu / 2, "test_acc": 0.3, "time": 1.0})
        db.log_epoch(run_id, 2, {"bleu": bleu, "test_acc": 0.5, "time": 1.0})
        db.finish_run(run_id, "finished")
    report = build_report(transformer_synth, "s", db.path)
    text = render_markdown(report)
    assert (
        "| Swish | – / 28.38 (29.50) | – / 29.27 (30.31) | 28.75 [28.00, 29.50] (n=4) / 29.38 (30.52) |"
        in text
    )
    assert "| NSwish+6Swish | – / – | – / – | 29.15 [28.80, 29.90] (n=4) / 29.37 (30.61) |" in text
    assert "| ReLU | 27.10 [26.00, 27.50] (n=4) / 27.69 (28.72) |" in text
    verdicts = {v.claim: v for v in report.verdicts}
    assert len(verdicts) == 2  # the other two claims need variants this preset lacks
    worse = verdicts["12L-12L, FFN 512x2048: Swish translates better than NSwish in every FFN (Table 6)"]
    p = sps.mannwhitneyu(LAST["swish_12l_2048"], LAST["nswish_12l_2048"], alternative="greater").pvalue
    # 28.6 of NSwish lies above two of Swish's runs: p = 4/70, just above alpha
    assert worse.p_for == pytest.approx(p) and p == pytest.approx(4 / 70)
    assert worse.status == "inconclusive" and "about 8 runs per arm" in worse.evidence
    assert worse.paper == "Table 6: BLEU 29.38 against 11.05 (greedy)"


def test_a_diverged_run_counts_as_the_worst_bleu_as_the_report_says(tmp_path, transformer_synth):
    """The verdict and the report's text agree on a diverged run: the worst BLEU, not its last one."""
    db = ResultsStore(tmp_path / "r.sqlite")
    for cfg in get_preset(transformer_synth).sweep("s").configs():
        run_id = db.start_run(study=cfg.study, variant=cfg.variant, seed=cfg.train.seed,
                              config_hash=config_hash(cfg), config=config_to_dict(cfg))  # fmt: skip
        db.log_epoch(run_id, 1, {"bleu": LAST[cfg.variant][cfg.train.seed], "time": 1.0})
        if cfg.variant == "swish_12l_2048" and cfg.train.seed == 0:
            db.finish_run(run_id, "diverged", diverged_epoch=2)  # its last finite BLEU is 29.0
        else:
            db.log_epoch(run_id, 2, {"bleu": LAST[cfg.variant][cfg.train.seed], "time": 1.0})
            db.finish_run(run_id, "finished")
    report = build_report(transformer_synth, "s", db.path)
    worse = next(v for v in report.verdicts if v.claim.startswith("12L-12L, FFN 512x2048: Swish"))
    assert "swish_12l_2048 [-∞, 28.50, 29.50, 28.00]" in worse.evidence and worse.diverged == "worst"
    assert "Diverged runs: counted as the worst value." in render_markdown(report)
    assert "BLEU 0" not in render_markdown(report)


def test_smoke_scale_end_to_end(tmp_path):
    """The YAML's smoke scale (16-dimensional models, 32 + 8 sentence pairs, one epoch), two variants."""
    name = "test-transformer-smoke"
    if name not in list_presets():
        base = get_preset("anact-transformer")
        variants = {v: base.variants[v] for v in ("relu_6l_512", "nrelu_3relu_6l_512")}
        register_preset(dataclasses.replace(base, name=name, variants=variants))
    write_tiny_iwslt(tmp_path / "data" / "iwslt")
    with fused_kernels(False):
        result = run_reproduce(name, "smoke", store=tmp_path / "r.sqlite", data_dir=tmp_path / "data")
    assert [(i.variant, i.status) for i in result.items] == [
        ("relu_6l_512", "finished"), ("nrelu_3relu_6l_512", "finished")]  # fmt: skip
    history = ResultsStore(tmp_path / "r.sqlite").history(result.items[1].run_id)
    assert {"bleu", "test_loss", "test_acc", "train_loss"} <= set(history[0])
    assert "| NReLU+3ReLU | " in result.path.read_text() and (result.path.parent / "bleu.png").is_file()
