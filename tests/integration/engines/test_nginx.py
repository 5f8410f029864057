"""The test nginx is real: it serves a config the test wrote and picks up a reload."""

import time
import urllib.request

import pytest

from testbed import engines

pytestmark = pytest.mark.engines


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode()


def test_nginx_serves_and_reloads(nginx):
    port = engines.free_port()
    conf = nginx.conf_d / "smoke.conf"
    conf.write_text(f"server {{ listen 127.0.0.1:{port}; location / {{ return 200 'one'; }} }}\n")
    nginx.reload()
    engines.wait_until(lambda: _get(port) == "one", 10, "nginx serving first config")
    conf.write_text(f"server {{ listen 127.0.0.1:{port}; location / {{ return 200 'two'; }} }}\n")
    assert nginx.test_config().returncode == 0
    nginx.reload()
    engines.wait_until(lambda: _get(port) == "two", 10, "nginx serving reloaded config")
    conf.write_text("server { listen 127.0.0.1:1; this is not nginx; }\n")
    bad = nginx.test_config()
    assert bad.returncode != 0 and "unknown directive" in bad.stderr
    conf.unlink()
    nginx.reload()
    time.sleep(0.2)
