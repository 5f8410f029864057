#!/usr/bin/env bash
# Build the stack's images into the engine at DOCKER_HOST, with no registry and no network in the builds:
#   portside/base:<suite>-<hash>  debootstrap base (scripts/base-image.sh, cached by content)
#   $PORTSIDE_IMAGE (portside/portside:dev)  the three daemons + nginx (Dockerfile; wheels built here with pip wheel)
#   $CONSUL_IMAGE (portside/consul:1.20.6)   the Consul binary from scripts/consul.sh + compose/consul/agent.hcl
#   portside/web:busybox          the demo web app (scripts/web-image.sh)
# The tags are the ones docker-compose.yml reads, so a test can build its own (PORTSIDE_IMAGE / CONSUL_IMAGE)
# while another checkout uses the same engine.
# Rebuilds are cheap: docker's layer cache, and the wheel set is rebuilt only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "build-images: $*" >&2; }
PORTSIDE_IMAGE="${PORTSIDE_IMAGE:-portside/portside:dev}"
CONSUL_IMAGE="${CONSUL_IMAGE:-portside/consul:1.20.6}"
base=$(bash scripts/base-image.sh | tail -n1)
wheels=build/wheels
stamp="$wheels/.stamp"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ -n "$(find portside registrator dns_balancer consul_templates -newer "$stamp" -name '*.py' -print -quit)" ]; then
  say "building wheels (host pip, cp311 manylinux)"
  rm -rf "$wheels"; mkdir -p "$wheels"
  .venv/bin/pip wheel -q --wheel-dir "$wheels" . uvloop orjson >/dev/null
  touch "$stamp"
fi
say "portside image on $base"
docker build -q --build-arg BASE="$base" -t "$PORTSIDE_IMAGE" . >/dev/null
consul=$(bash scripts/consul.sh | tail -n1)
# The Consul image is rebuilt when its recipe changes (Dockerfile, agent config, base, binary version), not on
# every run: copying the ~150 MB binary into a build context costs more than the check.
recipe=$( { cat compose/consul.Dockerfile compose/consul/agent.hcl; echo "$base"; "$consul" version | sed -n 1p; } \
  | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "portside.recipe"}}' "$CONSUL_IMAGE" 2>/dev/null)" != "$recipe" ]; then
  say "consul image"
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  ln "$consul" "$ctx/consul" 2>/dev/null || cp "$consul" "$ctx/consul"
  cp compose/consul/agent.hcl "$ctx/agent.hcl"
  docker build -q --build-arg BASE="$base" --label portside.recipe="$recipe" -t "$CONSUL_IMAGE" \
    -f compose/consul.Dockerfile "$ctx" >/dev/null
fi
web=$(bash scripts/web-image.sh | tail -n1)
say "images ready: $PORTSIDE_IMAGE $CONSUL_IMAGE $web"
