"""portside consul-templates daemon (see README and issue #6)."""
