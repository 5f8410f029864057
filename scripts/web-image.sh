#!/usr/bin/env bash
# Build the test/demo web image `portside/web:busybox` with `docker import` from Debian's busybox-static
# (no registry needed). Its httpd answers / with the container's hostname and /health with 200;
# `docker exec <c> rm /www/health` makes it unhealthy, `docker exec <c> touch /www/health` healthy again.
# Usage: scripts/web-image.sh [tag]   (uses DOCKER_HOST; rebuilds only when missing)
set -euo pipefail
tag="${1:-portside/web:busybox}"
# the tag carries a hash of this script, so a changed image is rebuilt
tag="$tag-$(sha256sum "$0" | cut -c1-8)"
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi
bb=$(command -v busybox)
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || [ -x /bin/busybox ] || { echo "web-image.sh: need busybox-static" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,www,tmp,etc,proc,sys,dev}
cp "$bb" "$root/bin/busybox"
for app in sh ls cat echo rm touch sleep httpd hostname wget nc kill killall pkill ps env mkdir true false test grep; do
  ln -s busybox "$root/bin/$app"
done
cat > "$root/bin/web" <<'SH'
#!/bin/sh
# portside demo web: / -> hostname, /health -> 200 while /www/health exists.
# GRACE=N: keep serving N seconds after SIGTERM (a graceful shutdown, as real apps do)
PORT="${PORT:-80}"
hostname > /www/index.html
echo ok > /www/health
trap 'sleep "${GRACE:-0}"; exit 0' TERM INT
httpd -f -p "$PORT" -h /www &
wait $!
SH
chmod +x "$root/bin/web"
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
tar -C "$root" -c . | docker import \
  --change 'CMD ["/bin/web"]' --change 'EXPOSE 80' --change 'ENV PATH=/bin' \
  - "$tag" >/dev/null
echo "$tag"
