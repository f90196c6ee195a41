# Set-up and everyday commands. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo lint test test-all bench browser

$(BIN)/harness: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/harness

demo: setup  ## the built-in offline demo sweep: tinylm x simulated fMRI x offline tasks x metrics
	$(BIN)/harness sweep

lint: setup  ## ruff (lint, import order) and mypy over the tree, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/mypy

browser:  ## Chromium and chromedriver (Debian packages, needs root) for the report's browser test; nothing when installed
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

test: setup  ## the test suite (slow tests excluded; the browser test skips where `make browser` has not run)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

test-all: setup
	$(BIN)/python -m pytest -q -n 2

bench: setup
	$(BIN)/python benchmarks/extraction.py
	$(BIN)/python benchmarks/ridge.py
