# The two Quick start commands: `make study` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# Jobs run `python -m sharpgen`: they must find the environment's python first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: study test setup dry-run lint bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Tests also need the upstream frameworks (extra "upstream": jax, flax, TensorFlow, open_clip), and
# Keras 2 (tf-keras, the writer of the PGDL competition's weight files) without its dependency
# "tensorflow", which the extra's tensorflow-cpu of the same version already provides.
$(BIN)/.installed-upstream: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[dev,upstream]'
	$(BIN)/pip install --quiet --no-deps tf-keras==2.21.0
	touch $@

setup: $(BIN)/.installed

study: setup
	$(BIN)/snakemake --workflow-profile workflow/profiles/local --cores $(CORES)

dry-run: setup
	$(BIN)/snakemake --workflow-profile workflow/profiles/local -n

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

test: $(BIN)/.installed-upstream
	bash tests/run.sh

bench: setup
	$(BIN)/python bench/engine_speed.py
