"""Run the real `dns-balancer` (python -m dns_balancer) against a real Consul agent, ask it with dnspython."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rrset

from testbed import engines

ROOT = Path(__file__).resolve().parents[2]
ALT_DOMAIN = "portside"  # the shared daemon's --alt-domain


class Daemon:
    def __init__(self, agent: engines.ConsulAgent, *args: str, host: str = "127.0.0.1", port: int = 0) -> None:
        """`host`/`port`: where it answers (default: 127.0.0.1 and a free port); port 53 on a loopback address
        of its own for clients that cannot be told a port (resolv.conf)."""
        self.agent = agent
        self.host = host
        free, self.http = engines.free_ports(2)
        self.port = port or free
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(f"/tmp/dnsb-{uuid.uuid4().hex[:8]}.log")

    def start(self, wait_synced: bool = True) -> Daemon:
        env = {**os.environ}
        env.pop("CONSUL_HTTP_TOKEN", None)
        env.update(self.agent.env_for("dns-balancer"))  # with ACLs on: its own token (compose/acl/)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dns_balancer", "--listen", f"{self.host}:{self.port}",
                 "--http-addr", f"127.0.0.1:{self.http}", *self.args],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            )
        if wait_synced:
            engines.wait_until(lambda: self.health()[0] == 200, 20, f"dns-balancer {self.args} (log {self.log})")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.unlink(missing_ok=True)

    def explain(self, name: str) -> str:
        """Where a service's change got to, for a failed wait: Consul's catalog (each instance's checks), the
        agent's own check states, our answer, and the tail of our log."""
        out = []
        try:
            for entry in self.agent.api(f"/v1/health/service/{name}") or []:
                checks = ", ".join(f"{c['CheckID']}={c['Status']}@{c['ModifyIndex']}" for c in entry["Checks"])
                out.append(f"catalog: {entry['Service']['ID']} {entry['Service']['Address']}: {checks}")
            local = self.agent.api("/v1/agent/checks") or {}
            out += [f"agent: {cid}={c['Status']}" for cid, c in sorted(local.items()) if c.get("ServiceName") == name]
        except OSError as exc:
            out.append(f"consul: {exc}")
        try:
            out.append(f"answer: {self.addresses(f'{name}.service.consul')}")
        except Exception as exc:  # noqa: BLE001 - a diagnosis, whatever failed
            out.append(f"answer: {exc!r}")
        try:  # Consul's answers by status (a 429 puts the feed into backoff), the feed's reads, the zone's builds
            wanted = ("dns_balancer_consul_responses", "dns_balancer_watch_errors", "dns_balancer_feed",
                      "dns_balancer_zone_")
            out += [f"metric: {k} {v:g}" for k, v in self.metrics().items() if k.startswith(wanted)]
        except OSError as exc:
            out.append(f"metrics: {exc}")
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        about = [line for line in lines if name in line or " checks at index " in line]
        return "\n".join([*out, f"log lines about {name} or the check watches:", *about[-30:], "log tail:",
                          *lines[-20:]])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def health(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=2) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def ask(self, name: str, rdtype: str = "A", *, tcp: bool = False, edns: int | None = None,
            timeout: float = 2.0, source: str | None = None, rd: bool = True) -> dns.message.Message:
        """`source`: the loopback address to ask from (127.0.0.0/8 is all ours), as a distinct client would."""
        q = dns.message.make_query(name, rdtype, use_edns=edns is not None, payload=edns or 1232)
        if not rd:
            q.flags &= ~dns.flags.RD
        if tcp:
            return dns.query.tcp(q, self.host, port=self.port, timeout=timeout, source=source)
        return dns.query.udp(q, self.host, port=self.port, timeout=timeout, ignore_trailing=False, source=source)

    def addresses(self, name: str, rdtype: str = "A", **kw: object) -> list[str]:
        msg = self.ask(name, rdtype, **kw)  # type: ignore[arg-type]
        return [rd.address for rrset in msg.answer for rd in rrset]

    def raw_udp(self, wire: bytes, timeout: float = 2.0, source: str = "127.0.0.1") -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((source, 0))
            s.settimeout(timeout)
            s.sendto(wire, (self.host, self.port))
            return s.recv(65535)


class FakeUpstream:
    """A tiny recursor on 127.0.0.1: example.com -> 127.0.0.99; names starting with "silent" get no reply."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
            except dns.exception.DNSException:  # what dnspython cannot parse gets FORMERR, as from a recursor
                if len(data) >= 12:
                    self.sock.sendto(data[:2] + b"\x80\x01" + bytes(8), addr)
                continue
            if q.question[0].name.to_text().startswith("silent"):
                continue
            r = dns.message.make_response(q)
            r.flags |= dns.flags.RA
            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "127.0.0.99"))
            self.sock.sendto(r.to_wire(), addr)

    def close(self) -> None:
        self.sock.close()


def register(agent: engines.ConsulAgent, name: str, sid: str, address: str | None, port: int,
             tags: Iterable[str] = (), ttl_check: str | None = None, weights: tuple[int, int] | None = None) -> None:
    body: dict[str, object] = {"ID": sid, "Name": name, "Port": port, "Tags": list(tags)}
    if address is not None:
        body["Address"] = address
    if ttl_check is not None:
        body["Check"] = {"CheckID": f"{sid}-ttl", "TTL": "10m", "Status": ttl_check}
    if weights is not None:
        body["Weights"] = {"Passing": weights[0], "Warning": weights[1]}
    agent.api("/v1/agent/service/register", "PUT", body)


def deregister(agent: engines.ConsulAgent, *sids: str) -> None:
    for sid in sids:
        try:
            agent.api(f"/v1/agent/service/deregister/{sid}", "PUT")
        except OSError:
            pass


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def wait_for(predicate, timeout: float = 5.0, what: str = "condition", explain=None) -> float:
    """Poll until true; returns the seconds it took. `explain()`: what to add to the error when it never is."""
    t0 = time.monotonic()
    try:
        engines.wait_until(predicate, timeout, what, interval=0.02)
    except TimeoutError as exc:
        if explain is None:
            raise
        raise TimeoutError(f"{exc}\n{explain()}") from None
    return time.monotonic() - t0


__all__ = ["ALT_DOMAIN", "Daemon", "FakeUpstream", "deregister", "dns", "register", "unique", "wait_for"]
