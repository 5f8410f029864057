# portside dns-balancer: least-privilege ACL policy (Consul 1.20). See compose/acl/README.md.
# dns-balancer only reads; it never writes and reads no KV.
#
# service:read -- /v1/catalog/services and each /v1/health/service/<name>. Without it Consul does not
# refuse, it filters: the service simply is not there (dns-balancer logs which right is missing).
# Narrow it to the services DNS should answer for, e.g. service_prefix "web" { policy = "read" }.
service_prefix "" {
  policy = "read"
}

# node:read -- /v1/catalog/nodes (<node>.node.<domain> names, addresses of instances without their own)
# and the node half of /v1/health/service/<name>: instances on nodes it cannot read are filtered out.
node_prefix "" {
  policy = "read"
}

# query:read -- /v1/query, the prepared query definitions <name>.query.<domain> is answered from (read only
# when such a name is asked). Consul filters the list to the names the token may read: a query it cannot
# read is NXDOMAIN. Drop this rule if no client asks for prepared queries.
query_prefix "" {
  policy = "read"
}
