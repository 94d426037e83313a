"""Training runner: configs, optimisers and schedules, checkpoints, the results store, sweeps."""

from normact.train.batches import Batches
from normact.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from normact.train.classification import evaluate
from normact.train.config import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    config_hash,
    config_to_dict,
    load_config,
    with_overrides,
)
from normact.train.loop import (
    Callback,
    RunExistsError,
    RunResult,
    Splits,
    StepCallback,
    checkpoint_path,
    train,
)
from normact.train.optim import build_optimizer, build_scheduler, clip_gradients, lr_factor, param_groups
from normact.train.store import DEFAULT_STORE, MetricRow, ResultsStore, RunRecord, StoreError
from normact.train.sweep import Sweep, SweepItem, load_sweep, run_sweep

__all__ = [
    "DEFAULT_STORE",
    "Batches",
    "Callback",
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataConfig",
    "MetricRow",
    "ModelConfig",
    "OptimConfig",
    "ResultsStore",
    "RunExistsError",
    "RunRecord",
    "RunResult",
    "ScheduleConfig",
    "Splits",
    "StepCallback",
    "StoreError",
    "Sweep",
    "SweepItem",
    "TrainConfig",
    "build_optimizer",
    "build_scheduler",
    "checkpoint_path",
    "clip_gradients",
    "config_hash",
    "config_to_dict",
    "evaluate",
    "load_checkpoint",
    "load_config",
    "load_sweep",
    "lr_factor",
    "param_groups",
    "run_sweep",
    "save_checkpoint",
    "train",
    "with_overrides",
]
