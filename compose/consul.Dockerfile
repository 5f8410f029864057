# Consul image for the compose stack: the local base plus the Consul binary the foundation scripts
# built (scripts/consul.sh) and compose/consul/agent.hcl (ACLs on, no script checks), both copied into the build
# context by scripts/build-images.sh. acl-init uses the same image for the consul CLI.
ARG BASE
FROM ${BASE}
COPY consul /usr/local/bin/consul
# /consul/data exists in the image owned by consul, so a fresh named volume mounted there starts owned by it.
RUN useradd --system --uid 10002 --user-group --home-dir /consul --create-home --shell /usr/sbin/nologin consul \
 && mkdir -p /consul/data && chown consul:consul /consul/data
COPY agent.hcl /etc/portside/consul/agent.hcl
USER consul
EXPOSE 8500
STOPSIGNAL SIGINT
CMD ["consul", "agent", "-config-file", "/etc/portside/consul/agent.hcl"]
