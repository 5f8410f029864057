"""portside consul-templates: files rendered from the Consul catalog and KV, checked, swapped in and
reloaded (see README)."""
