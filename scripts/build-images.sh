#!/usr/bin/env bash
# Build the stack's images into the engine at DOCKER_HOST, with no registry and no network in the builds:
#   portside/base:<suite>-<hash>  debootstrap base (scripts/base-image.sh, cached by content)
#   portside/portside:dev         the three daemons + nginx (Dockerfile; wheels built here with pip wheel)
#   portside/consul:1.20.6        the Consul binary from scripts/consul.sh on the base
#   portside/web:busybox          the demo web app (scripts/web-image.sh)
# Rebuilds are cheap: docker's layer cache, and the wheel set is rebuilt only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "build-images: $*" >&2; }
base=$(bash scripts/base-image.sh | tail -n1)
wheels=build/wheels
stamp="$wheels/.stamp"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ -n "$(find portside registrator dns_balancer consul_templates -newer "$stamp" -name '*.py' -print -quit)" ]; then
  say "building wheels (host pip, cp311 manylinux)"
  rm -rf "$wheels"; mkdir -p "$wheels"
  .venv/bin/pip wheel -q --wheel-dir "$wheels" . uvloop >/dev/null
  touch "$stamp"
fi
say "portside image on $base"
docker build -q --build-arg BASE="$base" -t portside/portside:dev . >/dev/null
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
consul=$(bash scripts/consul.sh | tail -n1)
if ! docker image inspect portside/consul:1.20.6 >/dev/null 2>&1; then
  say "consul image"
  ln "$consul" "$ctx/consul" 2>/dev/null || cp "$consul" "$ctx/consul"
  docker build -q --build-arg BASE="$base" -t portside/consul:1.20.6 -f compose/consul.Dockerfile "$ctx" >/dev/null
fi
web=$(bash scripts/web-image.sh | tail -n1)
say "images ready: portside/portside:dev portside/consul:1.20.6 $web"
