"""torchrun with two CPU processes (gloo): one run, the same as on one process; rank 0 alone writes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from normact.train import ResultsStore, checkpoint_path, load_checkpoint, train

from .tinyrun import FLOAT64, make_splits, tiny_config

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
WORKER = Path(__file__).with_name("ddp_worker.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def torchrun(mode, out, timeout=240):
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(WORKER), mode, str(out)]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _metrics(history):
    return [{k: v for k, v in h.items() if k != "time"} for h in history]


def test_two_processes_train_the_one_process_run(tmp_path):
    done = torchrun("train", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    one = train(tiny_config(tmp_path / "one", *FLOAT64), data=make_splits(dtype=torch.float64))
    ranks = [torch.load(tmp_path / f"float64-rank{r}.pt") for r in (0, 1)]
    for key, value in one.model.state_dict().items():  # same global batches, same order
        for state in ranks:
            torch.testing.assert_close(state[key], value, rtol=0, atol=1e-6)
    store = ResultsStore(tmp_path / "r.sqlite")
    runs = store.runs()
    assert len(runs) == 3 and {r.world_size for r in runs} == {2}  # one row per run: rank 0's
    stored = store.history(runs[0].id)
    for ours, ref in zip(_metrics(stored), _metrics(one.history), strict=True):
        assert ours.keys() == ref.keys()
        for key in ours:
            assert ours[key] == pytest.approx(ref[key], abs=1e-6), key
    # the normalized activations' running statistics are synchronised: the same on both ranks
    a, b = (torch.load(tmp_path / f"normalized-rank{r}.pt") for r in (0, 1))
    running = [k for k in a if "running" in k]
    assert running and all(torch.equal(a[k], b[k]) for k in running)
    # the interrupted run resumes under torchrun and ends where the uninterrupted one did
    cut = tiny_config(tmp_path / "cut", *FLOAT64, "study=cut")
    assert load_checkpoint(checkpoint_path(cut))["epoch"] == 1
    assert store.runs()[2].status == "failed"
    done = torchrun("resume", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = torch.load(tmp_path / "resumed-rank0.pt")
    for key, value in ranks[0].items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-12)
    assert store.runs()[2].status == "finished"


def test_a_crashing_rank_ends_the_job_with_its_error(tmp_path):
    done = torchrun("crash", tmp_path, timeout=180)
    assert done.returncode != 0
    assert "rank 1 fails" in done.stderr + done.stdout


def test_world_size_must_divide_the_global_batch(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(
        ValueError, match=r"data.batch_size=16 is the global batch and must be divisible by the world size 3"
    ):
        train(tiny_config(None), data=make_splits())
