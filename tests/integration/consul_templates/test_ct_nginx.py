"""consul-templates against the real Consul agent and the real nginx: upstreams follow the catalog and health,
nginx is only ever handed a config that passed `nginx -t`, and nothing makes the daemon exit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from testbed import engines
from tests.support.ct_harness import EXAMPLE, NGINX_CHECK, get, metric, seen_through, wait_for

pytestmark = pytest.mark.engines

INJECTION = "198.18.0.1;\n} server { listen 9999; }"  # data that must be refused; never a traffic target

UPSTREAM = """\
upstream NAME {
{% for i in service('NAME') %}
    server {{ i.hostport }};
{% else %}
    {{ empty_upstream() }}
{% endfor %}
EXTRA}
server {
    listen 127.0.0.1:PORT;
    location / { proxy_pass http://NAME; }
}
"""


def upstream(name: str, port: int, extra: str = "") -> str:
    return UPSTREAM.replace("NAME", name).replace("PORT", str(port)).replace("EXTRA", extra)


def write_config(tmp: Path, template: dict, **top: object) -> Path:
    path = tmp / "templates.yaml"
    path.write_text(json.dumps({**top, "templates": [template]}))  # JSON is YAML
    return path


def reload_cmd(nginx, log: Path | None = None) -> str:
    echo = f"echo reload >> {log} && " if log else ""
    return f"{echo}{nginx.check_command} && {nginx.reload_command}"


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_shipped_template_follows_registrations_and_health(nginx, webs, service, daemon, site, listen_port, tmp_path):
    dest = site("example")
    cfg = write_config(tmp_path, {"source": str(EXAMPLE), "destination": str(dest), "check_command": NGINX_CHECK,
                                  "command": reload_cmd(nginx)}, wait={"min": "50ms", "max": "500ms"})
    env = {"PORTSIDE_SERVICE": service.name, "PORTSIDE_LISTEN": f"127.0.0.1:{listen_port}"}
    d = daemon("--config", str(cfg), env=env)
    a, b, c = webs

    # no instance at all: a valid config with a placeholder server; nginx reloaded and answers 502
    wait_for(lambda: dest.exists(), 15, "first render")
    assert "server 127.0.0.1:1 down;" in dest.read_text()
    assert nginx.test_config().returncode == 0
    wait_for(lambda: seen_through(listen_port, 2) == {"status:502"}, 10, "nginx serving the empty upstream")

    service.register(a)
    service.register(b)
    wait_for(lambda: seen_through(listen_port) == {a.host, b.host}, 15, "two healthy backends through nginx")
    service.register(c)
    wait_for(lambda: seen_through(listen_port) == {a.host, b.host, c.host}, 15, "third backend added")
    assert all(f"server 127.0.0.1:{w.port} " in dest.read_text() for w in webs)

    service.deregister(b)
    wait_for(lambda: seen_through(listen_port) == {a.host, c.host}, 15, "deregistered backend removed")
    assert f"127.0.0.1:{b.port} " not in dest.read_text()

    c.container.exec_run(["rm", "/www/health"])  # its Consul HTTP check goes critical
    try:
        wait_for(lambda: seen_through(listen_port) == {a.host}, 20, "backend with a critical check removed")
        assert f"127.0.0.1:{c.port} " not in dest.read_text()
    finally:
        c.container.exec_run(["touch", "/www/health"])
    wait_for(lambda: seen_through(listen_port) == {a.host, c.host}, 20, "backend back once its check passes")

    service.deregister(a)
    service.deregister(c)  # no healthy instance left: still a valid config, reloaded
    wait_for(lambda: seen_through(listen_port, 2) == {"status:502"}, 15, "empty upstream again")
    assert "server 127.0.0.1:1 down;" in dest.read_text() and nginx.test_config().returncode == 0
    assert d.alive(), d.log()


def test_burst_gives_one_write_and_one_reload_identical_data_none(nginx, service, daemon, site, listen_port,
                                                                  tmp_path):
    dest, reloads = site("burst"), tmp_path / "reloads.log"
    text = upstream(service.name, listen_port, extra="    # {{ key_or_default('portside/NAME/note', 'none') }}\n")
    http = engines.free_port()
    cfg = write_config(tmp_path, {"contents": text.replace("NAME", service.name), "destination": str(dest),
                                  "command": reload_cmd(nginx, reloads), "wait": {"min": "300ms", "max": "3s"}},
                       http_addr=f"127.0.0.1:{http}")
    d = daemon("--config", str(cfg))
    wait_for(lambda: count_lines(reloads) == 1, 15, "first write and reload")
    writes = metric(http, "consul_templates_writes_total")

    started = time.monotonic()
    for i in range(20):  # 20 changes in ~200 ms
        service.register(port=20001 + i, check=False)
        time.sleep(max(0.0, started + (i + 1) * 0.01 - time.monotonic()))
    assert time.monotonic() - started < 0.5
    wait_for(lambda: dest.read_text().count("server 127.0.0.1:2") == 20, 10, "all 20 instances rendered")
    time.sleep(1.0)
    assert count_lines(reloads) == 2, "20 changes in 200 ms must give exactly one reload"
    assert metric(http, "consul_templates_writes_total") == writes + 1

    # identical data: a KV write of the same value, a re-registration of the same instance -> no write, no reload
    mtime = dest.stat().st_mtime_ns
    service.kv("note", "none")
    service.kv("note", "none")
    service.register(port=20001, check=False)
    time.sleep(1.5)
    assert dest.stat().st_mtime_ns == mtime and count_lines(reloads) == 2
    assert metric(http, "consul_templates_writes_total") == writes + 1
    service.kv("note", "hello")  # a real change still goes through
    wait_for(lambda: "# hello" in dest.read_text() and count_lines(reloads) == 3, 10, "a real change")
    assert d.alive(), d.log()


def test_injected_value_is_refused_and_nginx_keeps_serving(nginx, webs, service, daemon, site, listen_port, tmp_path):
    dest, http = site("inject"), engines.free_port()
    extra = ("{% set extra = key_or_default('portside/NAME/backup', '') %}{% if extra %}"
             "    server {{ extra }} backup;\n{% endif %}").replace("NAME", service.name)
    cfg = write_config(tmp_path, {"contents": upstream(service.name, listen_port, extra), "destination": str(dest),
                                  "check_command": NGINX_CHECK, "command": reload_cmd(nginx)},
                       http_addr=f"127.0.0.1:{http}")
    d = daemon("--config", str(cfg))
    a = webs[0]
    service.register(a)
    wait_for(lambda: seen_through(listen_port) == {a.host}, 15, "backend through nginx")
    live = dest.read_bytes()

    service.kv("backup", INJECTION)
    wait_for(lambda: metric(http, "consul_templates_render_errors_total") >= 1, 10, "render refused")
    time.sleep(0.3)
    assert dest.read_bytes() == live, "the live config must not change"
    assert "9999" not in dest.read_text() and nginx.test_config().returncode == 0
    assert seen_through(listen_port) == {a.host}, "nginx keeps serving the old upstream"
    log = d.log()
    assert "refused value" in log and f"key('{service.kv_root}/backup')" in log and "198.18.0.1;" in log
    assert get(http, "/health")[0] == 200 and d.alive()
    assert not list(dest.parent.glob(f".{dest.name}.*")), "no candidate left in conf.d"


def test_candidate_failing_nginx_t_is_never_swapped_in(nginx, webs, service, daemon, site, listen_port, tmp_path):
    dest = site("check")
    extra = "    {{ key_or_default('portside/NAME/balance', 'least_conn') }};\n".replace("NAME", service.name)
    cfg = write_config(tmp_path, {"contents": upstream(service.name, listen_port, extra), "destination": str(dest),
                                  "check_command": NGINX_CHECK, "command": reload_cmd(nginx)})
    d = daemon("--config", str(cfg))
    a = webs[0]
    service.register(a)
    wait_for(lambda: seen_through(listen_port) == {a.host}, 15, "backend through nginx")
    live = dest.read_bytes()

    service.kv("balance", "no_such_balancer")  # passes the value check, fails nginx -t
    wait_for(lambda: "candidate refused" in d.log(), 10, "check_command failure logged")
    assert dest.read_bytes() == live and nginx.test_config().returncode == 0
    assert seen_through(listen_port) == {a.host}
    assert 'unknown directive "no_such_balancer"' in d.log()

    service.kv("balance", "ip_hash")  # a good value goes through
    wait_for(lambda: "ip_hash;" in dest.read_text(), 10, "valid candidate swapped in")
    assert seen_through(listen_port) == {a.host} and d.alive()


def test_failing_reload_leaves_daemon_running_and_sighup_rereads_config(nginx, webs, service, daemon, site,
                                                                         listen_port, tmp_path):
    dest = site("failreload")
    template = {"contents": upstream(service.name, listen_port), "destination": str(dest), "command": "exit 1"}
    cfg = write_config(tmp_path, template)
    d = daemon("--config", str(cfg))
    a = webs[0]
    service.register(a)
    wait_for(lambda: d.log().count("'exit 1' exited 1") >= 2, 15, "failed command retried")
    assert d.alive(), d.log()
    assert not dest.exists(), "a file whose command failed is taken back"

    write_config(tmp_path, {**template, "command": reload_cmd(nginx)})
    d.hup()
    wait_for(lambda: seen_through(listen_port) == {a.host}, 15, "after SIGHUP the new command reloads nginx")
    assert "configuration reloaded" in d.log() and d.alive()


def test_sighup_picks_up_a_changed_template(service, daemon, tmp_path):
    src, dest = tmp_path / "t.j2", tmp_path / "out.txt"
    # (trim_blocks: the newline after a block tag is dropped, as in Ansible)
    src.write_text("v1 {% for i in service('NAME') %}{{ i.port }}{% endfor %}\n".replace("NAME", service.name))
    d = daemon("--template", f"{src}:{dest}")
    service.register(port=7001, check=False)
    wait_for(lambda: dest.exists() and dest.read_text() == "v1 7001", 10, "first render")
    src.write_text("v2 {% for i in service('NAME') %}{{ i.port }}{% endfor %}\n".replace("NAME", service.name))
    d.hup()
    wait_for(lambda: dest.read_text() == "v2 7001", 10, "changed template after SIGHUP")
    src.write_text("{% for %}")  # a broken template on SIGHUP: logged, the running one kept
    d.hup()
    wait_for(lambda: "reload failed" in d.log(), 10, "bad reload logged")
    service.register(port=7002, check=False)
    wait_for(lambda: dest.read_text() == "v2 70017002", 10, "still rendering with the last good template")
    assert d.alive()


def test_once_and_dry(consul_env, service, tmp_path):
    import os
    import subprocess
    import sys

    src, dest, marker = tmp_path / "t.j2", tmp_path / "out.txt", tmp_path / "ran"
    src.write_text("{% for i in service('NAME') %}{{ i.hostport }}\n{% endfor %}".replace("NAME", service.name))
    service.register(port=7101, check=False)
    env = {**os.environ, **service.agent.env_for("consul-templates")}
    base = [sys.executable, "-m", "consul_templates"]
    once = subprocess.run([*base, "--template", f"{src}:{dest}:touch {marker}", "--once"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert once.returncode == 0, once.stderr
    assert dest.read_text() == "127.0.0.1:7101\n" and marker.exists()

    dry_dest = tmp_path / "dry.txt"
    dry = subprocess.run([*base, "--template", f"{src}:{dry_dest}:touch {marker}-dry", "--once", "--dry"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == f"> {dry_dest}\n127.0.0.1:7101\n"
    assert not dry_dest.exists() and not Path(f"{marker}-dry").exists()


def test_consul_outage_keeps_last_good_file(daemon, tmp_path):
    agent = engines.ConsulAgent(node="ct-outage").start()
    try:
        src, dest, http = tmp_path / "t.j2", tmp_path / "out.txt", engines.free_port()
        src.write_text("{% for i in service('svc') %}{{ i.hostport }} {% else %}none{% endfor %}\n")
        agent.api("/v1/agent/service/register", "PUT", {"ID": "svc-1", "Name": "svc", "Address": "127.0.0.1",
                                                        "Port": 7201})
        d = daemon("--template", f"{src}:{dest}", "--http-addr", f"127.0.0.1:{http}",
                   env=agent.env_for("consul-templates"))
        wait_for(lambda: dest.exists() and dest.read_text() == "127.0.0.1:7201 ", 10, "first render")
        agent.stop(keep_dir=True)
        wait_for(lambda: get(http, "/health", timeout=5)[0] == 503, 10, "/health reports Consul down")
        time.sleep(1.0)
        assert dest.read_text() == "127.0.0.1:7201 " and d.alive()
        agent.start()  # a dev agent comes back empty: the template follows the real (empty) data
        wait_for(lambda: dest.read_text() == "none", 20, "re-rendered after Consul came back")
        agent.api("/v1/agent/service/register", "PUT", {"ID": "svc-2", "Name": "svc", "Address": "127.0.0.1",
                                                        "Port": 7202})
        wait_for(lambda: dest.read_text() == "127.0.0.1:7202 ", 10, "watching again after the outage")
        assert get(http, "/health")[0] == 200 and d.alive()
    finally:
        agent.stop()
