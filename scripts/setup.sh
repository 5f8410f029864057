#!/usr/bin/env bash
# One-time, idempotent set-up on a fresh machine (as root). Installs only what is missing:
#   Debian packages (docker.io nginx dnsperf wrk busybox-static dnsutils debootstrap file haproxy gcc musl-tools),
#   the virtualenv .venv with `pip install -e .[test,bench]` (bench: matplotlib, make bench's picture),
#   Compose v2 as a Docker CLI plugin,
#   Consul v1.20.6 (from PATH, else built once into ~/.cache/portside; see scripts/consul.sh), and
#   consul-template v0.41.1 (built once into ~/.cache/portside; the oracle of the differential test and the
#   benchmarks, never part of portside; see scripts/consul-template.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup: $*" >&2; }

pkgs=(docker.io nginx dnsperf wrk busybox-static dnsutils debootstrap file haproxy gcc musl-tools)
bins=(dockerd nginx dnsperf wrk busybox dig debootstrap file haproxy gcc musl-gcc)
missing=()
for i in "${!pkgs[@]}"; do command -v "${bins[$i]}" >/dev/null 2>&1 || missing+=("${pkgs[$i]}"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { say "need root to install: ${missing[*]}"; exit 1; }
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # the distribution starts nginx/docker services on install; portside runs its own instances
  for svc in nginx docker containerd haproxy; do
    (command -v systemctl >/dev/null && systemctl disable --now "$svc" >/dev/null 2>&1) || true
    (command -v service >/dev/null && service "$svc" stop >/dev/null 2>&1) || true
  done
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.portside-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/compose-requirements.txt -nt "$stamp" ]; then
  say "installing portside and its test and benchmark dependencies into .venv"
  .venv/bin/pip install -q -e '.[test,bench]'
  .venv/bin/pip install -q --no-deps --require-hashes -r scripts/compose-requirements.txt
  touch "$stamp"
fi

# The checkout's root on the venv's path (a .pth file): tests, benchmarks and the demo import the engines
# (testbed/) and the tests' shared support (tests/support/) as packages, with no sys.path edits in code.
# Not part of the distribution: the image ships only the daemons.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ "$(cat "$site/portside-checkout.pth" 2>/dev/null)" = "$PWD" ] || echo "$PWD" > "$site/portside-checkout.pth"

plugdir="$HOME/.docker/cli-plugins"
mkdir -p "$plugdir"
# a copy, not a link into this checkout's .venv: another checkout (or its removal) must not break `docker compose`
if ! cmp -s .venv/bin/docker-compose "$plugdir/docker-compose"; then
  rm -f "$plugdir/docker-compose"
  install -m 0755 .venv/bin/docker-compose "$plugdir/docker-compose"
  say "installed Compose v2 as a Docker CLI plugin: $(docker compose version 2>&1 | head -1)"
fi

consul=$(bash scripts/consul.sh | tail -n 1)
say "consul: $consul ($("$consul" version | head -1))"
ct=$(bash scripts/consul-template.sh | tail -n 1)
say "consul-template (the differential test's oracle): $ct"
say "ready"
