"""One rank of the torchrun runs of test_distributed.py: ``ddp_worker.py MODE OUT_DIR``.

MODE ``train``: a float64 run, a run with normalized activations, and a float64 run stopped after its
first epoch; ``resume``: that run resumed; ``crash``: rank 1 raises in its first epoch. Each rank saves
its final weights and buffers as ``OUT_DIR/<name>-rank<r>.pt``.
"""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tinyrun import FLOAT64, NORMALIZED, make_splits, tiny_config

from normact.train import ResultsStore, train


class Stop:
    """Raise after ``epoch`` on ``ranks`` (KeyboardInterrupt: an interrupted run)."""

    def __init__(self, epoch, ranks, error):
        self.epoch, self.ranks, self.error = epoch, ranks, error

    def on_epoch_end(self, model, epoch, batches):
        if epoch == self.epoch and int(os.environ["RANK"]) in self.ranks:
            raise self.error
        return {}


def save(result, out, name):
    state = {k: v.clone() for k, v in result.model.state_dict().items()}
    torch.save(state, out / f"{name}-rank{os.environ['RANK']}.pt")


def main(mode, out):
    store = ResultsStore(out / "r.sqlite")
    data64 = make_splits(dtype=torch.float64)
    cut = tiny_config(out / "cut", *FLOAT64, "study=cut")
    if mode == "train":
        save(train(tiny_config(out / "full", *FLOAT64), store, data=data64), out, "float64")
        save(train(tiny_config(None, *NORMALIZED), store, data=make_splits()), out, "normalized")
        try:
            train(cut, store, [Stop(2, (0, 1), KeyboardInterrupt)], data=data64)
        except KeyboardInterrupt:
            pass
    elif mode == "resume":
        save(train(cut, store, data=data64, resume=True), out, "resumed")
    elif mode == "crash":
        train(
            tiny_config(None, *FLOAT64), callbacks=[Stop(1, (1,), RuntimeError("rank 1 fails"))], data=data64
        )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
