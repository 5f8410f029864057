"""The consul-templates fixtures (tests/support/ct_fixtures.py) for the integration tests."""

from tests.support.ct_fixtures import daemon, listen_port, service, site, webs

__all__ = ["daemon", "listen_port", "service", "site", "webs"]
