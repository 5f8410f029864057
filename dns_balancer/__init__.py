"""portside dns-balancer daemon (see README and issue #5)."""
