"""portside dns-balancer: Consul-style DNS names answered from an in-memory mirror of the catalog (see README)."""
