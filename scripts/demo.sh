#!/usr/bin/env bash
# `make demo`: engines, local images, the compose stack; then scale web 1 -> 5 -> 2 and show, after each
# step, the upstream nginx is using, what DNS answers for web.service.consul, and which instances served
# 20 requests through nginx. The stack stays up afterwards; `make demo-down` removes it all.
# Consul runs with ACLs on; `scripts/demo.sh token` prints the management token the stack made.
#   scripts/demo.sh up | down | token
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO_DIR="${PORTSIDE_DEMO_DIR:-/tmp/portside-demo}"
export WEB_PORT="${WEB_PORT:-18080}" DNS_PORT="${DNS_PORT:-18600}" CONSUL_PORT="${CONSUL_PORT:-18500}"
export GREETER_PORT="${GREETER_PORT:-18082}"
PY=.venv/bin/python
compose() { docker compose -f "$ROOT/compose/docker-compose.yml" "$@"; }

engine() {
  if [ -n "${DOCKER_HOST:-}" ] && docker version >/dev/null 2>&1; then
    echo "demo: using the engine at DOCKER_HOST=$DOCKER_HOST" >&2
  else
    DOCKER_HOST=$($PY -m testbed.engines dockerd start "$DEMO_DIR")
    export DOCKER_HOST
    echo "demo: private dockerd at DOCKER_HOST=$DOCKER_HOST (data in $DEMO_DIR)" >&2
  fi
  export DOCKER_SOCK="${DOCKER_HOST#unix://}"
  DOCKER_GID=$(stat -c %g "$DOCKER_SOCK")
  export DOCKER_GID
}

views() {
  local want=$1
  # wait until nginx's upstream has converged (or 10 s), then show the three views
  local deadline=$(( $(date +%s) + 10 )) n=-1
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=$(compose exec -T nginx sh -c 'grep -c "^ *server [0-9]" /etc/portside/conf.d/web.conf 2>/dev/null || true' | tr -d '\r')
    [ "$n" = "$want" ] && break
    sleep 0.2
  done
  echo "--- nginx upstream (rendered by consul_templates):"
  compose exec -T nginx sh -c 'sed -n "/^upstream/,/^}/p" /etc/portside/conf.d/web.conf' | sed 's/^/    /'
  echo "--- dig @127.0.0.1 -p $DNS_PORT web.service.consul (dns_balancer):"
  dig @127.0.0.1 -p "$DNS_PORT" web.service.consul A +short +tries=1 +time=2 | sort | sed 's/^/    /'
  echo "--- 20 requests through nginx, by instance that answered:"
  for _ in $(seq 20); do curl -s --max-time 2 "http://127.0.0.1:$WEB_PORT/" || echo "(failed)"; done \
    | sort | uniq -c | sed 's/^/   /'
}

up() {
  engine
  bash scripts/build-images.sh
  WEB_IMAGE=$(bash scripts/web-image.sh | tail -n1)
  docker tag "$WEB_IMAGE" portside/web:demo
  compose up -d --wait --scale web=1 consul registrator dns nginx templates web >/dev/null
  for n in 1 5 2; do
    echo
    # only the web service: the infrastructure is up (a full `up` would run acl-init again, ~3 s)
    echo "=== docker compose up --scale web=$n web"
    compose up -d --scale web="$n" --no-recreate web >/dev/null 2>&1
    views "$n"
  done
  echo
  echo "The stack is up: nginx http://127.0.0.1:$WEB_PORT  DNS 127.0.0.1:$DNS_PORT  Consul http://127.0.0.1:$CONSUL_PORT"
  echo "Try: DOCKER_HOST=$DOCKER_HOST docker compose -f compose/docker-compose.yml up -d --scale web=7"
  echo "Consul has ACLs on (default deny): CONSUL_HTTP_TOKEN=\$(scripts/demo.sh token) to look inside"
  echo "The greeter (env mode) at http://127.0.0.1:$GREETER_PORT says: $(curl -s --max-time 2 "http://127.0.0.1:$GREETER_PORT/" || echo '(not yet)')"
  echo "  change it: curl -X PUT -H \"X-Consul-Token: \$(scripts/demo.sh token)\" -d 'hello again' http://127.0.0.1:$CONSUL_PORT/v1/kv/portside/greeter/greeting"
  echo "Remove it all with: make demo-down"
}

down() {
  if [ -d "$DEMO_DIR" ]; then
    export DOCKER_HOST="unix://$DEMO_DIR/docker.sock" DOCKER_SOCK="$DEMO_DIR/docker.sock" DOCKER_GID=0
    compose --profile haproxy down -v -t 2 >/dev/null 2>&1 || true
    $PY -m testbed.engines dockerd stop "$DEMO_DIR"
    echo "demo: stack and private dockerd removed"
  elif [ -n "${DOCKER_HOST:-}" ]; then
    DOCKER_SOCK="${DOCKER_HOST#unix://}" DOCKER_GID=0 compose --profile haproxy down -v -t 2
  else
    echo "demo: nothing to remove"
  fi
}

# The management token acl-init made (kept in its own volume; no daemon holds it).
token() {
  if [ -z "${DOCKER_HOST:-}" ] && [ -S "$DEMO_DIR/docker.sock" ]; then export DOCKER_HOST="unix://$DEMO_DIR/docker.sock"; fi
  local cid
  cid=$(DOCKER_SOCK=/dev/null DOCKER_GID=0 compose ps -a -q acl-init)
  [ -n "$cid" ] || { echo "demo: the stack is not up (make demo)" >&2; exit 1; }
  docker cp "$cid:/var/lib/portside-acl/management.secret" - | tar -xO
  echo
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  token) token ;;
  *) echo "usage: scripts/demo.sh up|down|token" >&2; exit 2 ;;
esac
