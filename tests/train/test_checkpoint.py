# The legacy global NumPy RNG is the state under test.
# ruff: noqa: NPY002
import random

import numpy as np
import pytest
import torch

from normact.train import load_checkpoint, save_checkpoint
from normact.train.checkpoint import CheckpointError, rng_state, set_rng_state


def _draws():
    return random.random(), np.random.rand(), np.random.randn(), torch.rand(3)


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leave a cached Gaussian in NumPy's state
    save_checkpoint(tmp_path / "c.pt", {"rng": rng_state(), "nested": {"a": [1, 2.5, "x", None]}})
    expected = _draws()
    _draws()
    state = load_checkpoint(tmp_path / "c.pt")
    set_rng_state(state["rng"])
    got = _draws()
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])
    assert state["nested"] == {"a": [1, 2.5, "x", None]} and state["format_version"] == 1


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})

    def torn_save(obj, f):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temporary file left behind


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_loading_refuses_pickled_code_and_other_formats(tmp_path):
    torch.save({"format_version": 1, "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt.*pickled Python objects, which are never loaded"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"w": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="format version None; expected 1"):
        load_checkpoint(tmp_path / "other.pt")
