"""train.loggers: what TensorBoard, the CSV files and MLflow hold after a run, read back by their readers."""

import csv
import json

import pytest

from normact.train import config_to_dict, train
from normact.train.loop import checkpoint_path

from .tinyrun import make_splits, tiny_config


class Probe:
    """A per-epoch probe value, to see that the loggers get more than the built-in metrics."""

    def on_epoch_end(self, model, epoch, batches):
        return {"probe/fc1_mean": model.fc1.weight.mean().item()}


def _run(tmp_path, *loggers):
    config = tiny_config(tmp_path / "runs", "train.epochs=2", f"train.loggers=[{', '.join(loggers)}]")
    return config, train(config, callbacks=[Probe()], data=make_splits())


def test_tensorboard_and_csv_hold_every_epoch_the_config_and_the_outcome(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config, result = _run(tmp_path, "tensorboard", "csv")
    run_dir = checkpoint_path(config).parent
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    for key in ("train_loss", "test_acc", "lr", "probe/fc1_mean"):
        scalars = events.Scalars(key)
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx([h[key] for h in result.history], rel=1e-6)
    texts = {
        tag: events.Tensors(tag)[-1].tensor_proto.string_val[0].decode() for tag in events.Tags()["tensors"]
    }
    assert json.loads(texts["config/text_summary"]) == config_to_dict(config)
    assert json.loads(texts["result/text_summary"])["status"] == "finished"

    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row, entry in zip(rows, result.history, strict=True):
        assert {k: float(v) for k, v in row.items()} == pytest.approx(entry, rel=1e-12)
    assert json.loads((run_dir / "config.json").read_text()) == config_to_dict(config)
    outcome = json.loads((run_dir / "result.json").read_text())
    assert outcome["status"] == "finished" and outcome["epochs_done"] == 2
    assert outcome["final_test_acc"] == result.history[-1]["test_acc"]


def test_mlflow_local_file_store(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, result = _run(tmp_path, "mlflow")
    client = MlflowClient((tmp_path / "runs" / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.run_name == "default/seed0" and run.info.status == "FINISHED"
    assert run.data.params["optim.lr"] == "0.05" and run.data.params["model.name"] == "tiny_mlp"
    assert run.data.tags["normact.status"] == "finished"
    for key in ("test_acc", "probe/fc1_mean"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [(m.step, m.value) for m in history] == [(h["epoch"], h[key]) for h in result.history]


def test_loggers_need_an_out_dir_and_a_known_name():
    with pytest.raises(ValueError, match=r"train\.loggers write into the run's folder: set train\.out_dir"):
        train(tiny_config(None, "train.loggers=[csv]"), data=make_splits())
    with pytest.raises(
        ValueError, match=r"'train.loggers' must be one of \['tensorboard', 'csv', 'mlflow'\]"
    ):
        tiny_config(None, "train.loggers=[wandb]")
