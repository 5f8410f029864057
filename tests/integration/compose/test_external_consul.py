"""The external-Consul override (compose/docker-compose.external-consul.yml), as `docker compose config` reads
it: it demands one token per daemon instead of running them with the anonymous token, and leaves nothing of the
stack's own Consul behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FILES = ["-f", str(ROOT / "compose/docker-compose.yml"), "-f", str(ROOT / "compose/docker-compose.external-consul.yml")]
TOKENS = {"REGISTRATOR_CONSUL_TOKEN": "registrator", "DNS_CONSUL_TOKEN": "dns", "TEMPLATES_CONSUL_TOKEN": "templates"}


def config(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in TOKENS and k != "CONSUL_ADDR"}
    return subprocess.run(["docker", "compose", *FILES, "config", "--format", "json"], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_each_missing_token_is_refused_by_name():
    for missing in TOKENS:
        given = {k: "t" for k in TOKENS if k != missing}
        r = config(CONSUL_ADDR="consul.example:8500", **given)
        assert r.returncode != 0 and f"required variable {missing} is missing" in r.stderr, r.stderr


def test_each_daemon_gets_its_own_token_and_nothing_of_the_local_consul_is_left():
    r = config(CONSUL_ADDR="consul.example:8500", **{k: f"secret-of-{v}" for k, v in TOKENS.items()})
    assert r.returncode == 0, r.stderr
    cfg = json.loads(r.stdout)
    services = cfg["services"]
    assert "consul" not in services and "acl-init" not in services
    for name in ("registrator", "dns", "templates"):
        svc = services[name]
        assert svc["environment"]["CONSUL_HTTP_TOKEN"] == f"secret-of-{name}", name
        assert "CONSUL_HTTP_TOKEN_FILE" not in svc["environment"] and not svc.get("entrypoint"), name
        assert not set(svc.get("depends_on") or {}) & {"consul", "acl-init"}, name
        assert not [v for v in svc.get("volumes") or [] if "token" in str(v.get("source"))], name
        assert svc["cap_drop"] == ["ALL"] and svc["read_only"] is True, name
    assert services["registrator"]["command"][-1] == "consul://consul.example:8500"
    assert not {"consul-data", "acl-state", "registrator-token"} & set(cfg.get("volumes") or {})
