# The two commands: `make demo` runs the main job, `make test` runs the whole suite.
# Both do their own set-up on a fresh machine (scripts/setup.sh, idempotent, as root).
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup test lint demo demo-down unit engines bench

setup:
	bash scripts/setup.sh

lint: setup
	$(VENV)/ruff check portside registrator dns_balancer consul_templates testbed tests bench scripts
	$(VENV)/mypy

# --durations: the slowest tests are named in every run (CI has a time limit).
# pytest exits 5 when it collects nothing: that is a failure here, said plainly (in both runs).
# The second run: the daemons' integration tests again against Consul with ACLs on (default deny), each daemon
# holding only its own token from compose/acl/*.hcl (PORTSIDE_CONSUL_ACL=1, testbed/acl.py). Left out: unit tests
# (no Consul), the adapter's engine tests (they set up tokens themselves), the compose stack (its own Consul).
# Skipped inside the ACL run (pytest.mark.skipif(acl.from_env()) in each module, which says why), because a token
# cannot change what they check and each costs a minute or more on 2 cores: the gliderlabs parity corpus (the
# registrator's policy allows every service name), the observability test (it sets up its own ACLs in both runs),
# the registrator scale test (connections per client address, not permissions) and the DNS fuzz rounds (fixed
# seeds, answered from the daemon's in-memory mirror: the packets never reach Consul). The consul-template
# differential corpus stays: under ACLs both tools read with the consul-templates token, so its queries are
# checked to carry the token and to see the same ACL-filtered catalog.
test: setup lint
	@PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/python -m pytest -q --durations=25; rc=$$?; \
	  if [ $$rc = 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; [ $$rc = 0 ] || exit $$rc; \
	  echo "make test: the daemons' integration tests again, Consul with ACLs on (PORTSIDE_CONSUL_ACL=1)"; \
	  PATH="$(CURDIR)/$(VENV):$$PATH" PORTSIDE_CONSUL_ACL=1 $(VENV)/python -m pytest -q tests/integration/registrator \
	    tests/integration/dns_balancer tests/integration/consul_templates; rc=$$?; \
	  if [ $$rc = 5 ]; then echo "make test: the ACL run collected no tests" >&2; exit 1; fi; exit $$rc

unit: setup
	$(VENV)/python -m pytest -q tests/unit

demo: setup
	PATH="$(CURDIR)/$(VENV):$$PATH" bash scripts/demo.sh up

demo-down:
	PATH="$(CURDIR)/$(VENV):$$PATH" bash scripts/demo.sh down

# the bare engines only (private dockerd, Consul dev agent, nginx) until Ctrl-C
engines: setup
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/python -m testbed.engines up

# every benchmark side by side with its anchor, bounded (< 15 min on 2 cores), loopback only: writes
# bench/RESULTS.md and bench/results.svg|png. Docker: the engine at DOCKER_HOST, else a private one (testbed).
# BENCH_ARGS=--quick for a short run while developing.
bench: setup
	PATH="$(CURDIR)/$(VENV):$$PATH" $(VENV)/python bench/run_all.py $(BENCH_ARGS)
