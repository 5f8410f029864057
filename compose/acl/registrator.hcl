# portside registrator: least-privilege ACL policy (Consul 1.20). See compose/acl/README.md.
#
# service:write -- PUT /v1/agent/service/register, /deregister/<id>, /maintenance/<id> and the TTL updates
# of its own `<id>:docker-health` checks (/v1/agent/check/pass|warn|fail/<id>). It also gives service:read,
# which /v1/agent/services needs to show registrator its own services (reconcile, -cleanup, agent watch).
# Service names come from images and SERVICE_NAME labels, so this policy allows every name. Narrow it to
# the names (or a naming prefix) your containers use, e.g.
#     service_prefix "web" { policy = "write" }
# A container whose name falls outside is refused (logged, retried) while the others register.
service_prefix "" {
  policy = "write"
}

# With the Consul KV backend (consulkv://host:port/<prefix>) it also needs, for its prefix:
#     key_prefix "<prefix>/" { policy = "write" }
# Nothing else: no node:read (registrator reads only /v1/agent/services, filtered by service:read, and
# /v1/status/leader, which needs no right), no key rights, no agent:read (it never calls /v1/agent/self).

