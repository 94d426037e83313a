# Set-up and entry points. `make reproduce` and `make test` are the two commands a new user runs.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch; pass TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
# on a machine whose default index serves the CUDA build.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
# The fused CPU kernels are built at first use with ninja, which the dev extras install into the venv.
export PATH := $(abspath $(BIN)):$(PATH)
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist

.PHONY: install data reproduce test lint bench gpu-check

$(BIN)/normact: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/normact

# Fashion-MNIST from Debian's dataset-fashion-mnist package; elsewhere set NORMACT_DATA to a folder holding
# fashion-mnist/ (see docs/data.md).
data:
	@if [ -d "$(FASHION_MNIST_DIR)" ] || [ -n "$$NORMACT_DATA" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }; \
	else \
		echo "Fashion-MNIST not found: run 'sudo apt-get install dataset-fashion-mnist' or set NORMACT_DATA"; exit 1; \
	fi

# ANAct's LeNet5 study at CPU scale (about 12 minutes on two cores; an interrupted run resumes), then its
# report: results/anact-lenet5/cpu/report.md and figures.
reproduce: install data
	$(BIN)/normact reproduce anact-lenet5 --scale cpu
	$(BIN)/normact report anact-lenet5

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: install lint
	$(BIN)/python -m pytest

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# On a machine with a CUDA device: the CUDA tests and the GPU layer benchmark, one summary at the end.
gpu-check: install
	$(BIN)/python benchmarks/gpu_check.py
