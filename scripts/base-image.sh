#!/usr/bin/env bash
# Build the local base image with debootstrap (no registry needed) and import it into the engine at
# DOCKER_HOST. The rootfs tarball is cached by content (suite + package list) in ~/.cache/portside, so a
# fresh engine only pays the ~2 s `docker import`. Prints the image tag.
#   minbase + python3 + python3-venv (ensurepip for the venv) + nginx-light (nginx image and `nginx -t`)
#   + haproxy (the compose stack's HAProxy variant, profile `haproxy`)
set -euo pipefail
SUITE="${PORTSIDE_BASE_SUITE:-bookworm}"
MIRROR="${PORTSIDE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PKGS="python3,python3-venv,nginx-light,haproxy,ca-certificates"
key=$(printf '%s|%s|v1' "$SUITE" "$PKGS" | sha256sum | cut -c1-12)
tag="portside/base:$SUITE-$key"
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi
cache="${PORTSIDE_CACHE:-$HOME/.cache/portside}"
tarball="$cache/base-$SUITE-$key.tar"
if [ ! -f "$tarball" ]; then
  command -v debootstrap >/dev/null || { echo "base-image.sh: debootstrap missing (make setup)" >&2; exit 1; }
  mkdir -p "$cache"
  root=$(mktemp -d /tmp/psbase-XXXX)
  trap 'rm -rf "$root"' EXIT
  start=$(date +%s)
  echo "base-image.sh: debootstrap $SUITE minbase + $PKGS (first time only, ~1 min)" >&2
  debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$root" "$MIRROR" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # slim: no apt lists, docs or caches in the image
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  echo "base-image.sh: rootfs built in $(( $(date +%s) - start ))s ($(du -h "$tarball" | cut -f1))" >&2
fi
docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' "$tarball" "$tag" >/dev/null
echo "$tag"
