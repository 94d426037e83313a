"""One progress bar over the whole run, and log lines from the Python API when asked."""

import subprocess
import sys
import textwrap
from pathlib import Path

from normact.train import train

from .tinyrun import make_splits, tiny_config

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"


def test_one_bar_over_every_step_of_the_run(capsys):
    train(tiny_config(None, "train.progress=bar"), data=make_splits())  # 3 epochs of 96 / 16 = 6 steps
    err = capsys.readouterr().err
    assert "18/18" in err and "epoch 3/3" in err
    assert "6/6" not in err  # no bar per epoch


def test_log_lines_from_the_python_api_without_logging_configured():
    code = textwrap.dedent(
        """
        import sys
        sys.path[:0] = [sys.argv[1], sys.argv[2]]
        from train.tinyrun import make_splits, tiny_config
        from normact.train import train
        train(tiny_config(None, "train.progress=log", "train.epochs=2"), data=make_splits())
        print("handlers after:", len(__import__("logging").getLogger("normact.train").handlers))
        """
    )
    done = subprocess.run([sys.executable, "-c", code, str(SRC), str(TESTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "tiny/default/seed0 epoch" in line]
    assert [line.split(":")[0] for line in lines] == [
        "tiny/default/seed0 epoch 1/2",
        "tiny/default/seed0 epoch 2/2",
    ]
    assert "handlers after: 0" in done.stdout  # the handler was the run's only
