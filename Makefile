# The two commands: `make dev` runs the product, `make test` runs the tests — both from a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install dev test e2e bench synth deploy clean

install: $(STAMP)  ## create .venv and install the project with its dev tools (idempotent)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

dev: install  ## local stack + sample data + Dagster UI on http://127.0.0.1:3000 (Ctrl-C stops it)
	$(BIN)/pipeline local up --seed --foreground

test: install  ## the whole suite; first finds or installs chromium and psql (.ci/system-deps)
	@.ci/system-deps
	$(BIN)/python -m pytest

e2e: install  ## only the end-to-end tests (real processes)
	@.ci/system-deps
	$(BIN)/python -m pytest tests/e2e

bench: install  ## benchmarks; writes bench/results.json
	$(BIN)/python -m bench

ENV ?= dev
CDK ?= npx --yes aws-cdk@2

synth: install  ## CloudFormation templates into infra/cdk.out, offline (cdk-nag gate; no AWS account, Docker or CDK CLI)
	$(BIN)/python infra/app.py -c env=$(ENV)

deploy: install  ## every stack into the current credentials' account (needs Docker for the Dagster image, and npx)
	cd infra && $(CDK) deploy --all --require-approval broadening -c env=$(ENV)

clean:
	-$(BIN)/pipeline local down
	rm -rf $(VENV) .local
