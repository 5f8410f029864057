# portside greeter (consul-templates in env mode): least-privilege ACL policy (Consul 1.20). See
# compose/acl/README.md. It reads its own settings and nothing else: env mode reads the prefix recursively
# (/v1/kv/portside/greeter?recurse), which needs read on the prefix itself, without the trailing slash.
key_prefix "portside/greeter" {
  policy = "read"
}
