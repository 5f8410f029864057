#!/usr/bin/env bash
# Print the path of the pinned consul-template v0.41.1, the oracle the differential test and the benchmarks
# compare consul-templates with: built once from the Go module proxy into
# ~/.cache/portside/consul-template-0.41.1/consul-template, then reused. Never part of this repository.
# Progress goes to stderr; the last line of stdout is the path.
set -euo pipefail
VERSION=0.41.1
cache="${PORTSIDE_CACHE:-$HOME/.cache/portside}/consul-template-$VERSION"
bin="$cache/consul-template"
have=""
[ -x "$bin" ] && have=$("$bin" -v 2>&1 || true)  # no pipe into grep -q: SIGPIPE + pipefail
case "$have" in *"consul-template v$VERSION"*) echo "$bin"; exit 0 ;; esac
command -v go >/dev/null || { echo "consul-template.sh: Go is needed to build consul-template (apt-get install golang-go)" >&2; exit 1; }
mkdir -p "$cache"
start=$(date +%s)
echo "consul-template.sh: building consul-template v$VERSION into $bin (first time only: ~1 min)" >&2
# GOBIN into the cache: `go install` writes nowhere else; a local toolchain, no VCS stamping (no checkout).
GOBIN="$cache/.build" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
  go install -trimpath -ldflags='-s -w' "github.com/hashicorp/consul-template@v$VERSION" &
b=$!
while kill -0 $b 2>/dev/null; do echo "consul-template.sh: building... $(( $(date +%s) - start ))s" >&2; sleep 15; done
wait $b || { echo "consul-template.sh: go install failed" >&2; exit 1; }
mv "$cache/.build/consul-template" "$bin"
rmdir "$cache/.build" 2>/dev/null || true
echo "consul-template.sh: built $("$bin" -v 2>&1 | head -1) in $(( $(date +%s) - start ))s" >&2
echo "$bin"
