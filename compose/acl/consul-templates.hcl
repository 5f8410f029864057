# portside consul-templates: least-privilege ACL policy (Consul 1.20). See compose/acl/README.md.
# consul-templates only reads.
#
# service:read -- service(), services(): /v1/catalog/services and /v1/health/service/<name>.
service_prefix "" {
  policy = "read"
}

# node:read -- nodes() (/v1/catalog/nodes) and the node half of /v1/health/service/<name>.
node_prefix "" {
  policy = "read"
}

# key:read -- key(), key_or_default(), ls(), tree() under this prefix only. Put the keys your templates
# read under it (or change it to your own prefix); a key() elsewhere is refused with 403 and logged.
key_prefix "portside/" {
  policy = "read"
}
