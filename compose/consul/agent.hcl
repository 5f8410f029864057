# Consul of the portside compose stack: one server that is its own cluster, state on a volume, ACLs on.
# Everything the stack does not use is off; what is on listens only where the stack needs it.
node_name        = "consul"   # compose/acl/consul-agent.hcl grants node:write on exactly this name
server           = true
bootstrap_expect = 1
data_dir         = "/consul/data"
log_level        = "warn"

# Serf LAN and server RPC on loopback: a single server, nobody else is meant to join, so no other container
# can gossip its way into the cluster or speak server RPC.
bind_addr = "127.0.0.1"
# The HTTP API on the container's loopback (CLI, health check). The compose file adds Consul's address in the
# control network (-client, found by subnet) for the daemons; on the demo network nothing listens.
client_addr = "127.0.0.1"

ports {
  dns      = -1   # dns-balancer answers DNS; the agent's own DNS interface (and its token) is not needed
  grpc     = -1
  grpc_tls = -1
  https    = -1
  serf_wan = -1
}

acl {
  enabled                  = true
  default_policy           = "deny"    # the anonymous token (no token sent) can do nothing but /v1/status/*
  down_policy              = "extend-cache"
  enable_token_persistence = true      # the agent token set by acl-init survives a restart of this container
}

# No agent-side commands: script checks from the HTTP API (what SERVICE_CHECK_SCRIPT / SERVICE_CHECK_DOCKER
# become) and from config files are refused, whatever token registers them.
enable_script_checks       = false
enable_local_script_checks = false
disable_remote_exec        = true
disable_update_check       = true

performance {
  raft_multiplier = 1
}
