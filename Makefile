# The two commands: `make run` (the whole stack, no Docker) and `make test` (the whole suite).
.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help run test faults services bench lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## Set up and run web, both workers, beat, Flower and Redis locally (Ctrl-C stops)
	@ops/scripts/run-local.sh

test: ## Set up what the suite needs and run every test
	@ops/scripts/test.sh $(ARGS)

faults: ## Fault-injection run: real Redis, PostgreSQL, workers, beat, web (FAULTS_ONLY=name)
	@ops/scripts/faults.sh $(ARGS)

services: ## Run each compose service natively (no Docker) until its health check passes (root)
	@ops/scripts/compose-run.sh $(ARGS)

bench: ## Benchmark: bare Celery vs the pipeline, latency, rate limit, sizing, webhook (ARGS="--managers 50")
	@ops/scripts/bench.sh $(ARGS)

lint: ## ruff check and ruff format --check, as CI runs them
	@ops/scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: ## Fix what ruff can fix
	@ops/scripts/bootstrap.sh
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

clean: ## Remove the virtualenv and local state (database, Redis data, mail)
	rm -rf .venv var
