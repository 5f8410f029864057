"""Attack tests, one file per daemon and attack. The session engines (Consul, dockerd, nginx) come from
tests/conftest.py; the harnesses they drive live in tests/support/."""

from tests.support.ct_fixtures import daemon, listen_port, service, site, webs
from tests.support.regharness import registrator

__all__ = ["daemon", "listen_port", "registrator", "service", "site", "webs"]
