# lead-sprint: two commands for a newcomer (make demo, make test); the rest for operators.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
STAMP := $(VENV)/.installed
# FULL=1 (the full-size demo) keeps its own store and instance beside the quick demo's
ifdef FULL
export LEAD_SPRINT_STATE_DIR ?= $(CURDIR)/.lead_sprint/full
export DAGSTER_HOME ?= $(CURDIR)/.lead_sprint/full/dagster_home
export LEAD_SPRINT_SANDBOX_POPULATION ?= full
else
export DAGSTER_HOME ?= $(CURDIR)/.lead_sprint/dagster_home
endif

.PHONY: demo test dev lint services bench sandbox-stop clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

## demo: run a compressed sprint against the built-in sandbox through a Dagster daemon (SQLite, no Redis);
## FULL=1: every hour and every source against the full-size sandbox (every target of the brief met)
demo: $(STAMP)
	$(BIN)/lead-sprint demo $(if $(FULL),--full,$(if $(HOURS),--hours $(HOURS),))

## test: ruff + the whole pytest suite against the real PostgreSQL and Redis (two workers; then the
## tests that restart a shared service, alone)
test: $(STAMP) services
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n 2 -m "not serial"
	$(BIN)/pytest -q -m serial

## dev: the Dagster UI and daemon on the demo's DAGSTER_HOME (http://127.0.0.1:3000); FULL=1: the full demo's.
## The sandbox starts first (LEAD_SPRINT_SANDBOX=0: real vendors): loading the definitions never starts it.
dev: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp lead_assets/config/dagster_local.yaml $(DAGSTER_HOME)/dagster.yaml
	@export LEAD_SPRINT_SANDBOX=$${LEAD_SPRINT_SANDBOX:-1}; \
	if [ "$$LEAD_SPRINT_SANDBOX" = 1 ]; then url=$$($(BIN)/lead-sprint sandbox start) || exit 1; echo "sandbox at $$url"; fi; \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: $(STAMP)
	$(BIN)/ruff check .

## services: start PostgreSQL / Redis when installed but down; fail with one line when absent
services:
	@bash .ci/services.sh

## bench: print the benchmark figures (store upsert, dedup, end-to-end)
bench: $(STAMP) services
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_enrichment.py
	$(BIN)/python benchmarks/bench_crm.py
	$(BIN)/python benchmarks/bench_rate_limits.py
	$(BIN)/python benchmarks/bench_sandbox.py
	$(BIN)/python benchmarks/bench_sprint.py

sandbox-stop: $(STAMP)
	$(BIN)/lead-sprint sandbox stop

clean:
	rm -rf .lead_sprint

## image: build the container image (Dockerfile) with podman or docker, whichever is installed
IMAGE ?= lead-sprint:0.1.0
BASE_IMAGE ?= python:3.11-slim
.PHONY: image
image:
	@engine=$$(command -v podman || command -v docker); \
	if [ -z "$$engine" ]; then echo "make image: no container engine (podman or docker) is installed; see docs/deploy.md" >&2; exit 1; fi; \
	if ! "$$engine" info >/dev/null 2>&1; then echo "make image: $$engine is installed but cannot reach its daemon/runtime ($$engine info fails); see docs/deploy.md" >&2; exit 1; fi; \
	echo "$$engine build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) ."; \
	"$$engine" build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .
