"""Tracking tools a run reports to: TensorBoard, CSV files and MLflow (``train.loggers``).

Each logger gets the run's config when it starts, every epoch's metrics (the built-in ones and the
probes') as they are stored, and the outcome at the end. TensorBoard and CSV write into the run's
folder (``<out_dir>/<study>/<variant>/seed<seed>-<hash>/``, beside the checkpoint); MLflow writes to
``MLFLOW_TRACKING_URI`` when it is set, else to a local file store ``<out_dir>/mlruns``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["LOGGERS", "CSVLogger", "MLflowLogger", "RunLogger", "RunLoggers", "TensorBoardLogger"]


class RunLogger(Protocol):
    """What a tracking tool is told about a run."""

    def start(self, config: Mapping[str, Any]) -> None: ...

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None: ...

    def finish(self, status: str, summary: Mapping[str, Any]) -> None: ...


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class TensorBoardLogger:
    """Scalars per epoch (step = epoch), the config and the outcome as text, in ``<run dir>/tensorboard``.

    ``first_epoch`` > 1 (a resumed run) purges what an interrupted process wrote after its checkpoint.
    """

    def __init__(self, run_dir: Path, first_epoch: int = 1) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(
            str(run_dir / "tensorboard"), purge_step=first_epoch if first_epoch > 1 else None
        )

    def start(self, config: Mapping[str, Any]) -> None:
        text = json.dumps(config, indent=2, sort_keys=True)
        self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def finish(self, status: str, summary: Mapping[str, Any]) -> None:
        self.writer.add_text("result", "    " + json.dumps({"status": status, **summary}, sort_keys=True))
        self.writer.close()


class CSVLogger:
    """``metrics.csv`` (one row per epoch, a column per metric), ``config.json`` and ``result.json``."""

    def __init__(self, run_dir: Path, first_epoch: int = 1) -> None:
        self.dir = run_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rows = self._earlier_rows(first_epoch)

    def _earlier_rows(self, first_epoch: int) -> list[dict[str, str]]:
        """The rows a previous process wrote for the epochs a resumed run keeps."""
        path = self.dir / "metrics.csv"
        if first_epoch == 1 or not path.is_file():
            return []
        with path.open(newline="") as f:
            return [row for row in csv.DictReader(f) if int(row["epoch"]) < first_epoch]

    def start(self, config: Mapping[str, Any]) -> None:
        (self.dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.rows.append({"epoch": epoch, **metrics})
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        tmp = self.dir / "metrics.csv.tmp"
        with tmp.open("w", newline="") as f:  # rewritten whole: a later epoch may bring new columns
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.dir / "metrics.csv")

    def finish(self, status: str, summary: Mapping[str, Any]) -> None:
        result = {"status": status, **summary}
        (self.dir / "result.json").write_text(
            json.dumps(result, indent=2, sort_keys=True, default=str) + "\n"
        )


class MLflowLogger:
    """An MLflow run per training run: experiment = study, run name = variant/seed, params = the config.

    Metrics are logged per epoch (step = epoch); the outcome is the tag ``normact.status`` and the run's
    MLflow status (FINISHED, or FAILED for a failed run; a diverged run is FINISHED with its tag).
    Without ``MLFLOW_TRACKING_URI`` the local file store ``<out_dir>/mlruns`` is used (and allowed:
    MLflow 3 keeps it in maintenance mode).
    """

    def __init__(self, out_dir: Path, study: str, run_name: str) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ValueError(
                "train.loggers: mlflow needs the mlflow package: pip install 'normact[mlflow]'"
            ) from None
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if uri is None:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (out_dir / "mlruns").resolve().as_uri()
        self.client = MlflowClient(uri)
        experiment = self.client.get_experiment_by_name(study)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(study)
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id

    def start(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [
            Param(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in _flatten(config).items()
        ]
        self.client.log_batch(self.run_id, params=params)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), now, epoch) for k, v in metrics.items()]
        )

    def finish(self, status: str, summary: Mapping[str, Any]) -> None:
        self.client.set_tag(self.run_id, "normact.status", status)
        for key, value in summary.items():
            self.client.set_tag(self.run_id, f"normact.{key}", value)
        self.client.set_terminated(self.run_id, "FAILED" if status == "failed" else "FINISHED")


LOGGERS = ("tensorboard", "csv", "mlflow")


class RunLoggers:
    """The loggers named in ``train.loggers`` of one run, told everything together."""

    def __init__(self, names: Sequence[str], run_dir: Path | None, out_dir: Path | None, study: str,
                 run_name: str, first_epoch: int = 1) -> None:  # fmt: skip
        if names and run_dir is None:
            raise ValueError("train.loggers write into the run's folder: set train.out_dir")
        self.loggers: list[RunLogger] = []
        for name in names:
            if name == "tensorboard":
                self.loggers.append(TensorBoardLogger(run_dir, first_epoch))
            elif name == "csv":
                self.loggers.append(CSVLogger(run_dir, first_epoch))
            elif name == "mlflow":
                self.loggers.append(MLflowLogger(out_dir, study, run_name))
            else:
                raise ValueError(f"train.loggers: unknown logger {name!r}; choose from {list(LOGGERS)}")

    def start(self, config: Mapping[str, Any]) -> None:
        for logger in self.loggers:
            logger.start(config)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        for logger in self.loggers:
            logger.log_epoch(epoch, metrics)

    def finish(
        self, status: str, history: Sequence[Mapping[str, float]] = (), error: str | None = None
    ) -> None:
        """Tell every logger the outcome: the status, epochs done and the last epoch's metrics."""
        summary: dict[str, Any] = {"epochs_done": len(history)}
        if history:
            summary.update({f"final_{k}": v for k, v in history[-1].items() if k != "epoch" and _finite(v)})
        if error:
            summary["error"] = error.strip().splitlines()[-1]
        for logger in self.loggers:
            logger.finish(status, summary)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
