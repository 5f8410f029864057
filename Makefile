# The two commands: `make demo` runs the main job, `make test` runs the whole suite.
# Both do their own set-up on a fresh machine (scripts/setup.sh, idempotent, as root).
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup test lint demo demo-down unit engines

setup:
	bash scripts/setup.sh

lint: setup
	$(VENV)/ruff check portside registrator dns_balancer consul_templates tests scripts bench
	$(VENV)/mypy

# pytest exits 5 when it collects nothing: that is a failure here, said plainly.
test: setup lint
	@PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/python -m pytest -q; rc=$$?; \
	  if [ $$rc = 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

unit: setup
	$(VENV)/python -m pytest -q tests/unit

demo: setup
	PATH="$(CURDIR)/$(VENV):$$PATH" bash scripts/demo.sh up

demo-down:
	PATH="$(CURDIR)/$(VENV):$$PATH" bash scripts/demo.sh down

# the bare engines only (private dockerd, Consul dev agent, nginx) until Ctrl-C
engines: setup
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/python scripts/engines.py up
