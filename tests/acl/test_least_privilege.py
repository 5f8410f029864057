"""Each daemon with only the rights compose/acl/<daemon>.hcl gives: a token lacking a right gives an error that
names the right, the daemon keeps running and retrying, and it catches up once the policy grants the right."""

from __future__ import annotations

import time
import urllib.error
import uuid
from pathlib import Path

import pytest

from testbed import engines
from tests.support.ct_harness import Daemon as TemplatesDaemon
from tests.support.ct_harness import wait_for
from tests.support.dnsb_harness import Daemon as DnsDaemon
from tests.support.dnsb_harness import register
from tests.support.regharness import RegistratorProcess, owned

pytestmark = pytest.mark.engines

NODE_READ = 'node_prefix "" {\n  policy = "read"\n}\n'


def lines_with(text: str, *needles: str) -> list[str]:
    return [ln for ln in text.splitlines() if all(n in ln for n in needles)]


def test_the_agent_denies_by_default_and_each_token_has_only_its_rights(acl_agent):
    def as_(token: str, path: str, method: str = "GET", body: object = None) -> object:
        return acl_agent.api(path, method, body, token=token)

    acl_agent.api("/v1/agent/service/register", "PUT", {"ID": "lp-1", "Name": "lp", "Port": 1})
    acl_agent.api("/v1/kv/portside/lp", "PUT", b"v")
    acl_agent.api("/v1/kv/elsewhere/lp", "PUT", b"v")
    try:
        assert as_("", "/v1/catalog/services") == {}  # anonymous: nothing
        reg, dns, ct = (acl_agent.tokens[d] for d in ("registrator", "dns-balancer", "consul-templates"))
        for token in (dns, ct):
            assert "lp" in as_(token, "/v1/catalog/services")
            assert as_(token, "/v1/health/service/lp")[0]["Service"]["ID"] == "lp-1"
            with pytest.raises(urllib.error.HTTPError, match="403"):
                as_(token, "/v1/agent/service/register", "PUT", {"ID": "x-1", "Name": "x", "Port": 1})
        assert "lp-1" in as_(reg, "/v1/agent/services")
        assert as_(ct, "/v1/kv/portside/lp")[0]["Key"] == "portside/lp"
        for token, key in ((ct, "elsewhere/lp"), (dns, "portside/lp"), (reg, "portside/lp")):
            with pytest.raises(urllib.error.HTTPError, match="403"):
                as_(token, f"/v1/kv/{key}")
    finally:
        acl_agent.api("/v1/agent/service/deregister/lp-1", "PUT")
        acl_agent.api("/v1/kv/?recurse", "DELETE")


def test_registrator_refused_names_service_write_keeps_retrying_and_registers_once_granted(
        acl_agent, rules, dockerd, docker_client, web_image):
    tag = uuid.uuid4().hex[:6]
    allowed, denied = f"lp-ok-{tag}", f"lp-no-{tag}"
    rules("registrator", 'service_prefix "lp-ok-" {\n  policy = "write"\n}\n')  # the narrowed example
    r = RegistratorProcess(dockerd, acl_agent, [], f"lp-{tag}")
    try:
        engines.wait_until(lambda: "registrator started" in r.output(), 30, "start")
        cs = [docker_client.containers.run(web_image, detach=True, ports={"80/tcp": ("127.0.0.1", None)},
                                           labels={"portside-test": tag, "SERVICE_NAME": name})
              for name in (allowed, denied)]
        engines.wait_until(lambda: f"{r.node}:{cs[0].name}:80" in owned(acl_agent, r.node), 10, "allowed one")
        engines.wait_until(lambda: len(lines_with(r.output(), f"({denied})", "service:write")) >= 2, 15,
                           "the refusal, logged and retried")
        line = lines_with(r.output(), f"({denied})", "service:write")[0]
        assert "permission denied" in line and f'lacks permission \'service:write\' on "{denied}"' in line, line
        assert r.alive() and set(owned(acl_agent, r.node)) == {f"{r.node}:{cs[0].name}:80"}

        rules("registrator")  # grant: the shipped compose/acl/registrator.hcl
        t0 = time.monotonic()
        engines.wait_until(lambda: f"{r.node}:{cs[1].name}:80" in owned(acl_agent, r.node), 10,
                           "registered once granted")
        print(f"registered {time.monotonic() - t0:.2f}s after the grant")
        assert r.alive()
    finally:
        r.stop(timeout=10)
        for c in docker_client.containers.list(all=True, filters={"label": f"portside-test={tag}"}):
            c.remove(force=True)
        for sid in owned(acl_agent, r.node):
            acl_agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")


def test_dns_balancer_without_service_read_says_so_and_answers_once_granted(acl_agent, rules):
    name = f"lpdns-{uuid.uuid4().hex[:6]}"
    register(acl_agent, name, f"{name}-1", "127.0.0.11", 80)
    rules("dns-balancer", NODE_READ)  # lacks service:read: Consul filters the catalog instead of refusing
    d = DnsDaemon(acl_agent)
    try:
        d.start()
        wait_for(lambda: lines_with(d.log.read_text(), "list catalog services", "service:read"), 10,
                 "the missing right logged")
        assert d.ask(f"{name}.service.consul").rcode() == 3 and d.alive()
        rules("dns-balancer")
        t0 = time.monotonic()
        wait_for(lambda: d.addresses(f"{name}.service.consul") == ["127.0.0.11"], 20, "answers once granted")
        print(f"answering {time.monotonic() - t0:.2f}s after the grant")
        assert "no longer filtered" in d.log.read_text() and d.alive()
    finally:
        d.stop()
        acl_agent.api(f"/v1/agent/service/deregister/{name}-1", "PUT")


def test_dns_balancer_without_query_read_says_so_and_answers_prepared_queries_once_granted(acl_agent, rules):
    name = f"lpq-{uuid.uuid4().hex[:6]}"
    register(acl_agent, name, f"{name}-1", "127.0.0.12", 80)
    query = acl_agent.api("/v1/query", "POST", {"Name": name, "Service": {"Service": name}})["ID"]
    rules("dns-balancer", 'service_prefix "" {\n  policy = "read"\n}\n' + NODE_READ)  # no query:read
    d = DnsDaemon(acl_agent)
    try:
        d.start()
        assert d.ask(f"{name}.query.consul").rcode() == 3  # Consul filters the list: no such query for us
        wait_for(lambda: lines_with(d.log.read_text(), "list prepared queries", "query:read"), 10,
                 "the missing right logged")
        rules("dns-balancer")
        wait_for(lambda: d.addresses(f"{name}.query.consul") == ["127.0.0.12"], 20, "answers once granted")
        assert d.alive()
    finally:
        d.stop()
        acl_agent.api(f"/v1/query/{query}", "DELETE")
        acl_agent.api(f"/v1/agent/service/deregister/{name}-1", "PUT")


def test_consul_templates_without_key_and_service_read_says_so_and_renders_once_granted(acl_agent, rules,
                                                                                       tmp_path: Path):
    name = f"lpct-{uuid.uuid4().hex[:6]}"
    acl_agent.api("/v1/agent/service/register", "PUT", {"ID": f"{name}-1", "Name": name, "Address": "127.0.0.1",
                                                        "Port": 7301})
    acl_agent.api(f"/v1/kv/portside/{name}/k", "PUT", b"v")
    src, dest = tmp_path / "t.j2", tmp_path / "out.txt"
    src.write_text(f"{{% for i in service('{name}') %}}{{{{ i.hostport }}}} {{% endfor %}}"
                   f"|{{{{ key('portside/{name}/k') }}}}\n")
    rules("consul-templates", NODE_READ)  # neither service:read nor key:read
    d = TemplatesDaemon(["--template", f"{src}:{dest}"], tmp_path, acl_agent.env_for("consul-templates"))
    try:
        wait_for(lambda: len(lines_with(d.log(), f"portside/{name}/k", "key:read")) >= 2, 15,
                 "the refused key logged and retried")
        # the template's service is followed with a query of its own, and that query's log line names it
        wait_for(lambda: lines_with(d.log(), f"watch service {name}:", "hide part of the answer", "service:read"), 10,
                 "the filtered service logged")
        assert not dest.exists() and d.alive()  # a file is written only once every query it reads has answered
        rules("consul-templates")
        t0 = time.monotonic()
        wait_for(lambda: dest.exists() and dest.read_text() == "127.0.0.1:7301 |v\n", 20, "rendered once granted")
        print(f"rendered {time.monotonic() - t0:.2f}s after the grant")
        assert d.alive()
    finally:
        d.stop()
        acl_agent.api(f"/v1/agent/service/deregister/{name}-1", "PUT")
        acl_agent.api(f"/v1/kv/portside/{name}?recurse", "DELETE")
