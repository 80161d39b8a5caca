# Two commands for a newcomer: `make demo` and `make test`. Each installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := python3 -m uv
CODE := billing billing_client billing_db billing_service activities workflows worker.py devtools scripts benchmarks tests

.PHONY: help uv deps tools postgres lint typecheck pytest test demo bench stack stack-down

help:
	@echo "make demo   start Temporal (Web UI on http://localhost:8233), a worker and the seed scenario"
	@echo "make test   lint, type-check and run the whole test suite on the real servers"
	@echo "make stack  the production shape as local processes (make stack-down stops it)"

uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

deps: uv
	@$(UV) sync --frozen --quiet

tools: deps
	@$(UV) run --frozen python -m scripts.temporal_tools
	@$(UV) run --frozen python -m scripts.server_tools

postgres: deps
	@if [ -f scripts/postgres_tools.py ]; then $(UV) run --frozen python -m scripts.postgres_tools ensure; fi

lint: deps
	$(UV) run --frozen ruff check $(CODE)
	$(UV) run --frozen ruff format --check $(CODE)

typecheck: deps
	$(UV) run --frozen mypy

pytest: tools postgres
	$(UV) run --frozen pytest --verbose --durations=15

test: lint typecheck pytest

demo: tools
	$(UV) run --frozen python -m devtools.demo

stack: tools postgres
	$(UV) run --frozen python -m devtools.stack up

stack-down: deps
	$(UV) run --frozen python -m devtools.stack down

bench: tools
	$(UV) run --frozen python -m benchmarks.run_all
