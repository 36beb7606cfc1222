# The README's commands. `make demo` and `make test` each create .venv if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision: the pair that installs from this machine's disk (see README)
TORCH := torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, or pip may go looking for another torch while resolving the rest
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/w2s run configs/quickstart.yaml
	# the run's held-out codec variants with VMAF as the score: a full-reference proxy, not human MOS
	$(BIN)/w2s study runs/quickstart --vmaf-proxy

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/label.py

clean:  # what `make setup` and `make demo` made; other runs in runs/ stay
	rm -rf $(VENV) runs/quickstart
