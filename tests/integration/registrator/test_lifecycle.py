"""registrator against real dockerd + real Consul: registration, drain, checks, health, pause, exit modes."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from testbed import engines
from tests.support.regharness import checks_of, owned, wait_started

pytestmark = pytest.mark.engines
MAINT = "_service_maintenance:"


def run_web(docker_client, image, *, labels=None, command=None, ports=True, **kw):
    return docker_client.containers.run(
        image, name=kw.pop("name", f"web-{uuid.uuid4().hex[:8]}"), labels={"portside-test": "1", **(labels or {})},
        command=command, ports={"80/tcp": ("127.0.0.1", None)} if ports else None, detach=True, **kw)


def host_port(c) -> int:
    c.reload()
    return int(c.ports["80/tcp"][0]["HostPort"])


def test_start_registers_with_metadata_and_stop_drains_then_deregisters(registrator, docker_client, web_image,
                                                                       consul_agent):
    r = registrator()
    wait_started(r)
    # a process that keeps answering for 2 s after SIGTERM: traffic must be drained before it exits
    slow_exit = ["sh", "-c", "hostname > /www/index.html; echo ok > /www/health; "
                             "trap 'sleep 2; exit 0' TERM; httpd -f -p 80 -h /www & wait"]
    c = run_web(docker_client, web_image, command=slow_exit,
                labels={"SERVICE_NAME": "shop", "SERVICE_TAGS": r"a,b\,c", "SERVICE_VERSION": "2"})
    sid = f"{r.node}:{c.name}:80"
    engines.wait_until(lambda: sid in owned(consul_agent, r.node), 10, "registration")
    s = owned(consul_agent, r.node)[sid]
    assert (s["Service"], s["Address"], s["Port"]) == ("shop", "127.0.0.1", host_port(c))
    assert s["Tags"] == ["b,c", "a"]  # last first, as gliderlabs master registers them
    assert s["Meta"]["version"] == "2" and s["Meta"]["portside-container"] == c.id

    stopper = threading.Thread(target=c.stop, kwargs={"timeout": 10})
    stopper.start()
    engines.wait_until(lambda: f"{MAINT}{sid}" in checks_of(consul_agent, sid), 5, "maintenance on stop")
    c.reload()
    assert c.status == "running", "maintenance must come while the process still answers"
    assert consul_agent.api("/v1/health/service/shop?passing=1") == []
    stopper.join()
    engines.wait_until(lambda: sid not in owned(consul_agent, r.node), 10, "deregistration after die")
    assert r.alive()


def test_every_check_kind_passing_and_critical(registrator, docker_client, web_image, consul_agent):
    r = registrator("-internal", "--allow-script-checks")
    wait_started(r)
    # httpd daemonizes; PID 1 sleeps, so httpd can be killed and restarted without the container exiting
    keep = ["sh", "-c", "hostname > /www/index.html; echo ok > /www/health; httpd -p 80 -h /www; exec sleep 100000"]
    c = run_web(docker_client, web_image, command=keep, ports=False, labels={
        "SERVICE_NAME": "checked", "SERVICE_CHECK_INTERVAL": "500ms", "SERVICE_CHECK_TIMEOUT": "1s",
        "SERVICE_CHECK_HTTP": "/health", "SERVICE_CHECK_TCP": "true",
        # Consul: exit 0 passing, 1 warning, anything else critical
        "SERVICE_CHECK_SCRIPT":
            "sh -c 'busybox wget -q -O /dev/null http://$SERVICE_IP:$SERVICE_PORT/health || exit 2'",
        "SERVICE_CHECK_DOCKER": "test -f /www/health || exit 2", "SERVICE_CHECK_TTL": "30s",
        "SERVICE_CHECK_GRPC": "true",
    })
    sid = f"{r.node}:{c.name}:80"
    engines.wait_until(lambda: sid in owned(consul_agent, r.node), 10, "registration")
    c.reload()
    assert owned(consul_agent, r.node)[sid]["Address"] == c.attrs["NetworkSettings"]["IPAddress"]
    kinds = ["http", "tcp", "script", "docker"]

    def status() -> dict[str, str]:
        """By kind; the first in gliderlabs' order (http) has its ID service:<id>, the rest <id>:<kind>."""
        st = checks_of(consul_agent, sid)
        return {k: st.get(f"service:{sid}" if k == "http" else f"{sid}:{k}", "missing")
                for k in [*kinds, "ttl", "grpc"]}

    def wait_status(pred, what: str) -> None:
        try:
            engines.wait_until(lambda: pred(status()), 20, what)
        except TimeoutError:
            raise AssertionError(f"{what}: {status()}") from None

    wait_status(lambda st: all(st[k] == "passing" for k in kinds), "checks passing")
    assert status()["ttl"] == "critical"  # a TTL check waits for the app to report
    consul_agent.api(f"/v1/agent/check/pass/{sid}:ttl", "PUT")
    assert status()["ttl"] == "passing"
    assert status()["grpc"] in ("critical", "warning")  # no gRPC server in the busybox image: registered, failing

    c.exec_run(["rm", "/www/health"])
    wait_status(lambda st: all(st[k] == "critical" for k in ["http", "script", "docker"]), "checks critical")
    assert status()["tcp"] == "passing"
    c.exec_run(["touch", "/www/health"])
    c.exec_run(["killall", "httpd"])
    wait_status(lambda st: st["tcp"] == "critical", "tcp critical")
    c.exec_run(["httpd", "-p", "80", "-h", "/www"])
    wait_status(lambda st: all(st[k] == "passing" for k in kinds), "checks passing again")


def test_docker_healthcheck_is_mirrored(registrator, docker_client, web_image, consul_agent):
    r = registrator()
    wait_started(r)
    c = run_web(docker_client, web_image, labels={"SERVICE_NAME": "hc"}, healthcheck={
        "test": ["CMD", "test", "-f", "/www/health"], "interval": 300_000_000, "timeout": 1_000_000_000,
        "retries": 1, "start_period": 0})
    sid = f"{r.node}:{c.name}:80"
    check = f"{sid}:docker-health"
    engines.wait_until(lambda: checks_of(consul_agent, sid).get(check) == "passing", 15, "healthy -> passing")
    c.exec_run(["rm", "/www/health"])
    engines.wait_until(lambda: checks_of(consul_agent, sid).get(check) == "critical", 15, "unhealthy -> critical")
    c.exec_run(["touch", "/www/health"])
    engines.wait_until(lambda: checks_of(consul_agent, sid).get(check) == "passing", 15, "healthy again")


def test_pause_puts_in_maintenance_unpause_restores(registrator, docker_client, web_image, consul_agent):
    r = registrator()
    wait_started(r)
    c = run_web(docker_client, web_image, labels={"SERVICE_NAME": "pausable"})
    sid = f"{r.node}:{c.name}:80"
    engines.wait_until(lambda: sid in owned(consul_agent, r.node), 10, "registration")
    c.pause()
    engines.wait_until(lambda: f"{MAINT}{sid}" in checks_of(consul_agent, sid), 10, "maintenance on pause")
    c.unpause()
    engines.wait_until(lambda: f"{MAINT}{sid}" not in checks_of(consul_agent, sid), 10, "maintenance off")
    assert sid in owned(consul_agent, r.node)


def test_deregister_on_success_keeps_failed_container_visible(registrator, docker_client, web_image, consul_agent):
    r = registrator("-deregister", "on-success")
    wait_started(r)
    def exits(code: int) -> list[str]:  # once told to (/go), so it is registered first however loaded the host
        return ["sh", "-c", f"httpd -p 80 -h /www; while [ ! -f /go ]; do sleep 0.1; done; exit {code}"]

    failing, fine, signalled = exits(3), exits(0), exits(143)  # 143 has bit 128: success-like, as gliderlabs
    bad = run_web(docker_client, web_image, command=failing, labels={"SERVICE_NAME": "fails"})
    good = run_web(docker_client, web_image, command=fine, labels={"SERVICE_NAME": "succeeds"})
    killed = run_web(docker_client, web_image, command=signalled, labels={"SERVICE_NAME": "signalled"})
    bad_id, good_id, killed_id = (f"{r.node}:{c.name}:80" for c in (bad, good, killed))
    engines.wait_until(lambda: {bad_id, good_id, killed_id} <= set(owned(consul_agent, r.node)), 10,
                       "all registered")
    for c in (bad, good, killed):
        c.exec_run(["touch", "/go"])
    for c in (bad, good, killed):
        c.wait(timeout=15)
    engines.wait_until(lambda: not {good_id, killed_id} & set(owned(consul_agent, r.node)), 10,
                       "exit 0 and 143 deregistered")
    time.sleep(0.5)
    assert bad_id in owned(consul_agent, r.node), "a failed container stays visible with on-success"
    bad.remove()
    engines.wait_until(lambda: bad_id not in owned(consul_agent, r.node), 10, "destroy deregisters")


def test_bad_label_skips_only_that_service_with_a_log_line(registrator, docker_client, web_image, consul_agent):
    r = registrator()
    wait_started(r)
    bad = run_web(docker_client, web_image, labels={"SERVICE_NAME": "bad", "SERVICE_CHECK_HTTP": "/h",
                                                    "SERVICE_CHECK_INTERVAL": "abc"})
    good = run_web(docker_client, web_image, labels={"SERVICE_NAME": "good"})
    engines.wait_until(lambda: f"{r.node}:{good.name}:80" in owned(consul_agent, r.node), 10, "good registered")
    engines.wait_until(lambda: "SERVICE_CHECK_INTERVAL" in r.output(), 5, "log line")
    line = next(ln for ln in r.output().splitlines() if "SERVICE_CHECK_INTERVAL" in ln)
    assert bad.name in line and "abc" in line
    assert f"{r.node}:{bad.name}:80" not in owned(consul_agent, r.node)
    assert r.alive()


def test_sigterm_stops_within_a_second_and_deregister_on_exit(registrator, docker_client, web_image,
                                                              consul_agent):
    r = registrator("--deregister-on-exit")
    wait_started(r)
    c = run_web(docker_client, web_image, labels={"SERVICE_NAME": "exiting"})
    sid = f"{r.node}:{c.name}:80"
    engines.wait_until(lambda: sid in owned(consul_agent, r.node), 10, "registration")
    took = r.stop()
    assert took < 1.0, f"took {took:.2f}s"
    assert owned(consul_agent, r.node) == {}
    assert "Traceback" not in r.output()
