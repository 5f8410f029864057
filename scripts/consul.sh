#!/usr/bin/env bash
# Print the path of a consul binary: `consul` from PATH when present, else the pinned v1.20.6 built
# from the Go module proxy into ~/.cache/portside/consul-1.20.6/consul (built once, then reused).
# Progress goes to stderr; the last line of stdout is the path.
set -euo pipefail
VERSION=1.20.6
if command -v consul >/dev/null 2>&1; then command -v consul; exit 0; fi
cache="${PORTSIDE_CACHE:-$HOME/.cache/portside}/consul-$VERSION"
bin="$cache/consul"
have=""
[ -x "$bin" ] && have=$("$bin" version 2>/dev/null || true)  # no pipe into grep -q: SIGPIPE + pipefail
case "$have" in *"Consul v$VERSION"*) echo "$bin"; exit 0 ;; esac
command -v go >/dev/null || { echo "consul.sh: Go is needed to build Consul (apt-get install golang-go)" >&2; exit 1; }
mkdir -p "$cache"
here="$(cd "$(dirname "$0")/consul" && pwd)"
# consul's go.mod replaces its own submodules, so `go install consul@v` refuses; a wrapper module
# (scripts/consul/go.mod, go.sum committed) requires it instead. consul-awsauth's pseudo-version is
# missing from the checksum database, hence GONOSUMDB for that one module.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GONOSUMDB=github.com/hashicorp/consul-awsauth
start=$(date +%s)
echo "consul.sh: building Consul v$VERSION into $bin (first time only: ~30 s download, ~3 min build)" >&2
( cd "$here" && go mod download ) &
dl=$!
while kill -0 $dl 2>/dev/null; do echo "consul.sh: downloading modules... $(( $(date +%s) - start ))s" >&2; sleep 10; done
( cd "$here" && go build -trimpath -ldflags='-s -w' -o "$bin.tmp" github.com/hashicorp/consul ) &
b=$!
while kill -0 $b 2>/dev/null; do echo "consul.sh: compiling... $(( $(date +%s) - start ))s" >&2; sleep 15; done
wait $b || { echo "consul.sh: go build failed" >&2; exit 1; }
mv "$bin.tmp" "$bin"
echo "consul.sh: built $("$bin" version | head -1) in $(( $(date +%s) - start ))s" >&2
echo "$bin"
