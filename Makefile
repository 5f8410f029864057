# The two commands: `make demo` runs the main job, `make test` runs the whole suite.
# Both do their own set-up on a fresh machine (scripts/setup.sh, idempotent, as root).
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup test lint demo demo-down unit

setup:
	bash scripts/setup.sh

lint: setup
	$(VENV)/ruff check portside registrator dns_balancer consul_templates tests scripts bench
	$(VENV)/mypy

test: setup lint
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/python -m pytest -q

unit: setup
	$(VENV)/python -m pytest -q tests/unit

demo: setup
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/python scripts/engines.py up

demo-down:
	@echo "make demo stops its engines on Ctrl-C; nothing is left running."
