"""Attacks on consul-templates through the values it renders and the place it writes, against the real Consul
agent, nginx, HAProxy and Docker Compose's env-file parser: every hostile value is refused for the syntax it
would break, one hostile service instance is dropped while the others keep being served, a planted symlink is
not followed, the Consul token never reaches a command, and orphans do not pile up when the daemon is PID 1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed import engines
from tests.support.ct_harness import NGINX_CHECK, metric, seen_through, wait_for

pytestmark = pytest.mark.engines

EVIL_ADDRESS = "127.0.0.1:1; } server { listen 9999; }"  # data that must be refused; never a traffic target


def config(tmp: Path, template: dict, **top: object) -> Path:
    path = tmp / "templates.yaml"
    path.write_text(json.dumps({**top, "templates": [template]}))  # JSON is YAML
    return path


def upstream(name: str, port: int) -> str:
    return (f"upstream {name} {{\n{{% for i in service('{name}') %}}    server {{{{ i.address }}}}:{{{{ i.port }}}};\n"
            f"{{% else %}}    {{{{ empty_upstream() }}}}\n{{% endfor %}}}}\nserver {{\n    listen 127.0.0.1:{port};\n"
            f"    location / {{ proxy_pass http://{name}; }}\n}}\n")


def test_dollar_never_reaches_nginx(nginx, service, daemon, site, listen_port, tmp_path):
    """nginx expands `$name` in proxy_pass: `http://$http_x_forward_to` would send traffic where a header says."""
    dest = site("dollar")
    text = (f"server {{\n    listen 127.0.0.1:{listen_port};\n"
            f"    location / {{ proxy_pass http://{{{{ key('{service.kv_root}/backend') }}}}; }}\n}}\n")
    service.kv("backend", "127.0.0.1:1")
    d = daemon("--config", str(config(tmp_path, {"contents": text, "destination": str(dest),
                                                 "check_command": NGINX_CHECK})))
    wait_for(lambda: dest.exists(), 15, "first render")
    good = dest.read_text()
    service.kv("backend", "$http_x_forward_to")
    wait_for(lambda: "refused value '$http_x_forward_to'" in d.log(), 15, "the $ value refused")
    assert dest.read_text() == good and "$" not in good and nginx.test_config().returncode == 0
    assert d.alive()


def test_one_hostile_instance_is_dropped_and_the_others_served(nginx, webs, service, daemon, site, listen_port,
                                                               tmp_path):
    dest, http = site("drop"), engines.free_port()
    cmd = f"{nginx.check_command} && {nginx.reload_command}"
    d = daemon("--config", str(config(tmp_path, {"contents": upstream(service.name, listen_port),
                                                 "destination": str(dest), "check_command": NGINX_CHECK,
                                                 "command": cmd}, http_addr=f"127.0.0.1:{http}")))
    a, b, _ = webs
    service.register(a)
    evil = service.register(port=7, address=EVIL_ADDRESS)
    service.register(b)
    wait_for(lambda: seen_through(listen_port) == {a.host, b.host}, 20, "both good backends served")
    text = dest.read_text()
    assert "9999" not in text and text.count("server 127.0.0.1:") == 2
    assert nginx.test_config().returncode == 0
    line = next(x for x in d.log().splitlines() if "dropped" in x)
    assert f"instance {evil!r}" in line and "address" in line and "9999" in line
    assert metric(http, "consul_templates_values_refused_total", 'reason="instance_dropped"') >= 1
    assert metric(http, "consul_templates_render_errors_total") == 0  # nothing failed: the rest rendered


HAPROXY = """\
global
    maxconn 64
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    default-server init-addr none
frontend f
    bind 127.0.0.1:1
    default_backend b
backend b
{% for i in service('NAME') %}    server {{ i.id }} {{ i.address }}:{{ i.port }} check
    http-request set-header X-From-{{ i.id }} {{ i.meta['zone'] }}
{% endfor %}
"""
HAPROXY_ATTACKS = ["127.0.0.1:1\n    server evil 198.18.0.9:80", "127.0.0.1 backup", "a#b", "%[req.hdr(host)]",
                   "${HOME}", "\"127.0.0.1\"", "127.0.0.1 if { always_true }", "x\\ y"]


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy not installed (scripts/setup.sh installs it)")
def test_haproxy_config_keeps_its_shape(service, consul_env, tmp_path):
    dest = tmp_path / "haproxy" / "haproxy.cfg"  # syntax haproxy by default
    ok = [service.register(port=p, address=f"127.0.0.{p - 8000}") for p in (8001, 8002)]
    for i, attack in enumerate(HAPROXY_ATTACKS):  # as the address, then as meta
        sid = service.register(port=9000 + i, address=attack if i % 2 == 0 else "127.0.0.9")
        if i % 2:
            body = {"ID": sid, "Name": service.name, "Address": "127.0.0.9", "Port": 9000 + i, "Meta": {"zone": attack}}
            service.agent.api("/v1/agent/service/register", "PUT", body)
    for sid, p in zip(ok, (8001, 8002), strict=True):
        service.agent.api("/v1/agent/service/register", "PUT", {"ID": sid, "Name": service.name,
                                                               "Address": f"127.0.0.{p - 8000}", "Port": p,
                                                               "Meta": {"zone": "eu-1"}})
    cfg = config(tmp_path, {"contents": HAPROXY.replace("NAME", service.name), "destination": str(dest)})
    done = subprocess.run([sys.executable, "-m", "consul_templates", "--config", str(cfg), "--once"],
                          env={**os.environ, **service.agent.env_for("consul-templates")}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = dest.read_text()
    assert [x.split()[1] for x in text.splitlines() if x.strip().startswith("server ")] == ok
    check = subprocess.run(["haproxy", "-c", "-q", "-f", str(dest)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert done.stderr.count("dropped") == len(HAPROXY_ATTACKS)


ENV_TEMPLATE = "{% for p in ls('ROOT') %}{{ p.key }}={{ p.value }}\n{% endfor %}"


@pytest.mark.skipif(not shutil.which("docker"), reason="needs the docker CLI with Compose")
def test_env_file_read_by_compose_holds_exactly_the_values(service, daemon, tmp_path):
    """A `.env` destination: plain data with spaces renders, and Compose's own parser reads back exactly it;
    a value that would add a variable or expand another is refused and the last good file stays."""
    dest = tmp_path / "app.env"
    plain = {"GREETING": "hello, world", "URL": "http://h:80/x?y=1&z=2", "EQ": "a=b", "SPACES": "a b  c"}
    for k, v in plain.items():
        service.kv(f"env/{k}", v)
    d = daemon("--config", str(config(tmp_path, {"contents": ENV_TEMPLATE.replace("ROOT", f"{service.kv_root}/env"),
                                                 "destination": str(dest)})))
    wait_for(lambda: dest.exists(), 15, "first render")
    assert compose_env(tmp_path, dest) == plain
    for attack in ("x\nINJECTED=1", "$HOME", "'quoted'", "a #comment", "back\\slash", "`id`"):
        good = dest.read_text()
        service.kv("env/EVIL", attack)
        wait_for(lambda a=attack: f"refused value {a!r}" in d.log(), 15, f"{attack!r} refused")
        assert dest.read_text() == good
    assert compose_env(tmp_path, dest) == plain


def compose_env(tmp: Path, env_file: Path) -> dict[str, str]:
    compose = tmp / "compose.yml"
    compose.write_text(json.dumps({"services": {"app": {"image": "scratch", "env_file": [str(env_file)]}}}))
    done = subprocess.run(["docker", "compose", "-f", str(compose), "config", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["services"]["app"].get("environment", {})


def test_a_symlink_planted_at_the_destination_is_not_followed(service, daemon, tmp_path):
    target = tmp_path / "secret.txt"
    target.write_text("do not overwrite\n")
    dest = tmp_path / "out.conf"
    dest.symlink_to(target)
    service.kv("x", "1")
    d = daemon("--config", str(config(tmp_path, {"contents": f"v {{{{ key('{service.kv_root}/x') }}}};\n",
                                                 "destination": str(dest)})))
    wait_for(lambda: "symlink" in d.log(), 15, "the symlink refused")
    assert target.read_text() == "do not overwrite\n" and dest.is_symlink() and d.alive()


def test_the_consul_token_never_reaches_a_command_or_env(service, daemon, consul_agent, tmp_path):
    token = consul_agent.env_for("consul-templates").get("CONSUL_HTTP_TOKEN", "not-a-real-token-7f3a")
    out, seen = tmp_path / "env-of-command.txt", tmp_path / "out.txt"
    service.kv("x", "1")
    text = f"{{{{ key('{service.kv_root}/x') }}}} {{{{ env('CONSUL_HTTP_TOKEN', 'absent') }}}}\n"
    daemon("--config", str(config(tmp_path, {"contents": text, "destination": str(seen), "command": f"env > {out}",
                                             "syntax": "none"})), env={"CONSUL_HTTP_TOKEN": token})
    wait_for(lambda: out.exists() and out.stat().st_size > 0, 15, "the command ran")
    assert token not in out.read_text() and "CONSUL_HTTP_TOKEN" not in out.read_text()
    assert seen.read_text() == "1 absent\n"


def test_a_recursive_template_is_a_render_error_not_a_crash(service, consul_env, tmp_path):
    service.kv("x", "1")
    text = f"{{% macro m(n) %}}{{{{ m(n) }}}}{{% endmacro %}}{{{{ key('{service.kv_root}/x') }}}}{{{{ m(1) }}}}"
    cfg = config(tmp_path, {"contents": text, "destination": str(tmp_path / "o")})
    done = subprocess.run([sys.executable, "-m", "consul_templates", "--config", str(cfg), "--once"],
                          env={**os.environ, **service.agent.env_for("consul-templates")}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "recursion too deep" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_orphans_of_commands_are_reaped_when_pid_1(service, consul_agent, tmp_path):
    """In a container the daemon is PID 1: a reload command that leaves a background process behind must not
    leave a zombie when that process exits."""
    dest = tmp_path / "out.txt"
    cfg = config(tmp_path, {"contents": f"v {{{{ key('{service.kv_root}/x') }}}}\n", "destination": str(dest),
                            "command": "(sleep 0.2 &) ; exit 0", "syntax": "none"})
    log = open(tmp_path / "pid1.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "consul_templates",
                             "--config", str(cfg)], env={**os.environ, **consul_agent.env_for("consul-templates")},
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: children_of(proc.pid), 15, "the daemon (PID 1 of its namespace)")
        (daemon_pid,) = children_of(proc.pid)
        for i in range(3):
            service.kv("x", str(i))
            wait_for(lambda i=i: dest.exists() and dest.read_text() == f"v {i}\n", 15, f"render {i}")
        time.sleep(2.5)  # the orphans have exited (0.2 s) and the reaper (every 1 s) has run
        states = [state(p) for p in children_of(daemon_pid)]
        assert "Z" not in states, f"zombies under the PID-1 daemon: {states}"
    finally:
        for pid in children_of(proc.pid):
            os.kill(pid, signal.SIGTERM)  # the daemon; unshare then exits with it
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
