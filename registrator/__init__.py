"""portside registrator daemon (see README and issue #4)."""
