# The compose stack's Consul agent itself: its own token (acl { tokens { agent } }), set by acl-init.
# See compose/acl/README.md.
#
# node:write on its own node name -- the agent registers its node and keeps its node info and coordinates in
# the catalog (anti-entropy). Nothing else: services sync to the catalog with the token that registered them.
node "consul" {
  policy = "write"
}
