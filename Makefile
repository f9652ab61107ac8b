# The two commands: `make run` and `make test`. Everything else is documented in README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export BATCH_TRAINING_HOME ?= $(CURDIR)/.batch_training
export DAGSTER_HOME ?= $(BATCH_TRAINING_HOME)/dagster_home

.PHONY: env run test test-fast lint dev check bench serving-base clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

env: $(VENV)/.installed

# Trains as of 2014-01-01: the year 2013, December held out (the gate passes there, see bench/README.md).
run: env
	$(BIN)/batch-training seed
	$(BIN)/batch-training ingest
	$(BIN)/batch-training train --as-of 2014-01-01

# The tests, after the linters (as CI runs them): the quick ones on every core, then those that
# start servers (PostgreSQL, the stack, a browser, image builds) on two workers, each module's
# tests on one worker (conftest.py groups them): a stack's waits overlap the image builds.
test: lint
	$(BIN)/pytest -n auto -m "not postgres and not ui and not image"
	$(BIN)/pytest -n 2 --dist loadgroup -m "postgres or ui or image"

# The quick loop: no PostgreSQL, no browser, no image builds.
test-fast: env
	$(BIN)/pytest -n auto -m "not postgres and not ui and not image"

# ruff (style, imports, bugbear) on everything, pyright on the core, dg's own check of the definitions.
lint: env check
	$(BIN)/ruff check batch_training batch_training_tests bench
	$(BIN)/pyright

dev: env
	$(BIN)/batch-training dev --host 127.0.0.1 --port 3000

# `dg check defs` on the local instance: dg's default instance would read the repository's
# dagster.yaml, which is the production (PostgreSQL) one.
check: env
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dg check defs

bench: env
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

# Once per machine without registry access: a Debian + Python base image in local buildah storage,
# bootstrapped from Debian's packages; then BATCH_TRAINING_IMAGE_BUILDER=buildah
# BATCH_TRAINING_BASE_IMAGE=localhost/batch-training/serving-base:bookworm builds served images on it.
serving-base: env
	$(BIN)/python -m batch_training.images.base $(BATCH_TRAINING_HOME)/serving-base

clean:
	rm -rf $(BATCH_TRAINING_HOME)

# The production-shaped stack on this machine (PostgreSQL, Dagster webserver and daemon, on loopback):
# logs and state under $(BATCH_TRAINING_HOME)/stack; UI port from BATCH_TRAINING_UI_PORT (default 3000).
.PHONY: up down
up: env
	$(BIN)/batch-training up

down:
	$(BIN)/batch-training down
