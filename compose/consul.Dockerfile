# Consul image for the compose stack: the local base plus the Consul binary the foundation scripts
# built (scripts/consul.sh), copied into the build context by scripts/build-images.sh.
ARG BASE
FROM ${BASE}
COPY consul /usr/local/bin/consul
RUN useradd --system --uid 10002 --user-group --home-dir /consul --create-home --shell /usr/sbin/nologin consul
USER consul
EXPOSE 8500 8600/udp 8600/tcp
STOPSIGNAL SIGINT
CMD ["consul", "agent", "-dev", "-client", "0.0.0.0", "-enable-script-checks"]
