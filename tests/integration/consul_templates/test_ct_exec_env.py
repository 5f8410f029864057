"""Exec mode and env mode against the real Consul agent, with real child processes: the child starts after the
first complete render (env mode: once every prefix exists), gets the reload signal or is restarted on change,
receives forwarded signals, and its exit code becomes the daemon's."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.ct_harness import wait_for

pytestmark = pytest.mark.engines


def child_script(log: Path, watched: Path | None = None) -> str:
    """A child (sh SCRIPT) that logs what it sees at start and on USR1/USR2/TERM (signals land between sleeps).
    The traps are set before the start line is written: the tests act as soon as they see that line."""
    show = f"$(cat {watched} 2>/dev/null || echo MISSING)" if watched else "${DB_HOST:-none} ${CONSUL_HTTP_TOKEN:-}"
    script = log.with_suffix(".sh")
    script.write_text(f"trap 'echo \"usr1 {show}\" >> {log}' USR1\ntrap 'echo usr2 >> {log}' USR2\n"
                      f"trap 'echo term >> {log}; exit 0' TERM\n"
                      f'echo "start $$ {show}" >> {log}\nwhile :; do sleep 0.05; done\n')
    return str(script)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_exec_mode_from_a_consul_template_hcl_config(service, daemon, tmp_path):
    src, dest, log = tmp_path / "app.conf.j2", tmp_path / "app.conf", tmp_path / "child.log"
    src.write_text(f"setting={{{{ key('{service.kv_root}/setting') }}}}\n")
    hcl = tmp_path / "ct.hcl"
    hcl.write_text(f'template {{\n  source = "{src}"\n  destination = "{dest}"\n}}\n'
                   f'exec {{\n  command = {json.dumps(["sh", child_script(log, dest)])}\n'
                   '  reload_signal = "SIGUSR1"\n  kill_signal = "SIGTERM"\n  kill_timeout = "5s"\n}\n')
    d = daemon("-config", str(hcl))
    time.sleep(1.0)
    assert not log.exists()  # no data yet: no file, so no child
    service.kv("setting", "v1")
    wait_for(lambda: lines(log)[:1] and lines(log)[0].endswith("setting=v1"), 15, "child started after the render")
    service.kv("setting", "v2")
    wait_for(lambda: "usr1 setting=v2" in lines(log), 15, "reload signal after the change")
    d.proc.send_signal(signal.SIGUSR2)
    wait_for(lambda: "usr2" in lines(log), 10, "USR2 forwarded to the child")
    assert [x for x in lines(log) if x.startswith("start")] == [lines(log)[0]]  # signalled, never restarted
    assert d.stop() == 0 and lines(log)[-1] == "term"


def test_exec_without_reload_signal_restarts_and_the_child_exit_code_is_ours(service, daemon, tmp_path):
    src, dest, log = tmp_path / "in.j2", tmp_path / "out.txt", tmp_path / "child.log"
    src.write_text(f"{{{{ key('{service.kv_root}/x') }}}}\n")
    service.kv("x", "1")
    d = daemon("-template", f"{src}:{dest}", "-exec", f"sh {child_script(log, dest)}",
               "-exec-kill-signal", "SIGTERM")
    wait_for(lambda: len(lines(log)) >= 1, 15, "child started")
    service.kv("x", "2")
    wait_for(lambda: len([x for x in lines(log) if x.startswith("start")]) == 2, 15, "child restarted")
    first, second = (x.split()[1] for x in lines(log) if x.startswith("start"))
    assert first != second and "term" in lines(log) and lines(log)[-1].endswith(" 2")

    exits = tmp_path / "exit.sh"
    exits.write_text("sleep 0.3; exit 7\n")
    pid_file = tmp_path / "ct.pid"
    d2 = daemon("-template", f"{src}:{tmp_path / 'out2.txt'}", "-exec", f"sh {exits}", "-pid-file", str(pid_file))
    wait_for(lambda: pid_file.exists(), 10, "pid file written")
    assert pid_file.read_text() == f"{d2.proc.pid}\n"
    wait_for(lambda: not d2.alive(), 20, "daemon exits with its child")
    assert d2.proc.returncode == 7 and d.alive() and not pid_file.exists()


def env_config(tmp: Path, prefixes: list[str], log: Path) -> Path:
    path = tmp / "env.yaml"
    path.write_text(json.dumps({"env": {"prefixes": prefixes, "upcase": True},
                                "exec": {"command": ["sh", child_script(log)], "kill_signal": "SIGTERM"}}))
    return path


def test_env_mode_restarts_the_child_with_the_new_environment(service, daemon, consul_agent, tmp_path):
    log = tmp_path / "child.log"
    token = consul_agent.env_for("consul-templates").get("CONSUL_HTTP_TOKEN", "not-a-real-token-7f3a")
    service.kv("cfg/db_host", "h1")
    daemon("--config", str(env_config(tmp_path, [f"{service.kv_root}/cfg"], log)), env={"CONSUL_HTTP_TOKEN": token})
    wait_for(lambda: lines(log), 15, "child started")
    assert lines(log)[0].endswith(" h1 ")  # DB_HOST from KV; the Consul token not inherited
    service.kv("cfg/db_host", "h2")
    wait_for(lambda: len([x for x in lines(log) if x.startswith("start")]) == 2, 15, "child restarted")
    assert lines(log)[-1].endswith(" h2 ") and "term" in lines(log)
    assert token not in log.read_text()


def test_env_mode_never_starts_with_a_missing_prefix(service, daemon, tmp_path):
    log = tmp_path / "child.log"
    service.kv("a/db_host", "h1")
    d = daemon("--config", str(env_config(tmp_path, [f"{service.kv_root}/a", f"{service.kv_root}/b"], log)))
    wait_for(lambda: "waiting for prefix" in d.log(), 15, "waiting logged")
    time.sleep(1.5)
    assert not log.exists()  # half its configuration: not started
    service.kv("b/port", "5432")
    wait_for(lambda: lines(log), 15, "child started once every prefix exists")
    assert lines(log)[0].endswith(" h1 ")


def test_sighup_reconnects_when_the_consul_address_changes(service, daemon, tmp_path):
    dest, cfg = tmp_path / "out.txt", tmp_path / "c.yaml"
    service.kv("x", "1")

    def write(address: str) -> None:
        cfg.write_text(json.dumps({"consul": {"address": address}, "templates": [
            {"contents": f"{{{{ key('{service.kv_root}/x') }}}}\n", "destination": str(dest)}]}))

    write("127.0.0.1:1")  # nobody there
    d = daemon("--config", str(cfg), env={"CONSUL_HTTP_ADDR": ""})
    wait_for(lambda: "cannot reach Consul at http://127.0.0.1:1" in d.log(), 15, "watching the wrong address")
    assert not dest.exists()
    write(service.agent.http_addr)
    d.hup()
    wait_for(lambda: dest.exists() and dest.read_text() == "1\n", 15, "rendered through the new address")
    assert "Consul settings changed" in d.log()
