# One image with the three daemons (registrator, dns-balancer, consul-templates) and nginx.
# BASE is a build argument: here a local debootstrap base (scripts/base-image.sh: no registry needed),
# elsewhere python:3.11-slim (nginx is then not included; install it in a derived image if needed).
# No network inside the build: wheels are built on the host (scripts/build-images.sh, `pip wheel`) and
# installed with --no-index.
ARG BASE=python:3.11-slim
FROM ${BASE}
# uid and gid 10001, fixed: the compose stack's acl-init hands each daemon its token file by that group.
RUN (getent group portside >/dev/null || groupadd --system --gid 10001 portside) \
 && (getent passwd portside >/dev/null || useradd --system --uid 10001 --gid portside --home-dir /nonexistent \
      --shell /usr/sbin/nologin portside) \
 && mkdir -p /etc/portside/conf.d /run/portside \
 && chown portside:portside /etc/portside/conf.d /run/portside
COPY build/wheels /tmp/wheels
RUN python3 -m venv /opt/portside \
 && /opt/portside/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels portside uvloop orjson \
 && rm -rf /tmp/wheels
ENV PATH=/opt/portside/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# No USER: the entrypoint starts as root only to open a root-owned Docker socket mounted the way gliderlabs'
# run line does (`-v /var/run/docker.sock:/tmp/docker.sock`), then drops to portside (portside/entrypoint.py).
# Each daemon serves /health on its --http-addr (REGISTRATOR_HTTP_ADDR, DNS_BALANCER_HTTP_ADDR,
# CONSUL_TEMPLATES_HTTP_ADDR); portside-healthcheck finds the one that is set.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["portside-healthcheck"]
# The daemons handle SIGTERM themselves as PID 1 (portside.run): no init shim needed.
STOPSIGNAL SIGTERM
# `docker run <image> consul://localhost:8500` runs registrator, as gliderlabs' image does; `docker run <image>
# dns-balancer ...` runs that daemon (compose's `command:` lines are unchanged).
ENTRYPOINT ["portside-entrypoint"]
CMD ["registrator", "--help"]
