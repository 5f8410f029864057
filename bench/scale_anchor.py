"""The anchors of bench/scale_feed.py: consul-template v0.41.1 rendering every service of the same catalog, and
Consul's own DNS answering the same names; and the JSON rows of the sweep (bench/benchjson.py)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import dns.message

from bench.benchjson import row
from bench.render_latency import CT_BIG, CT_VERSION, bench_agent, consul_template_binary, stop
from testbed import engines

# the anchor agent (render_latency.bench_agent) lets one client hold 8192 connections: consul-template keeps one
# blocking query (one connection) per service, so a stock agent (200) would refuse it past 200 services
anchor_agent = bench_agent


def srv_count(port: int, name: str) -> int:
    """SRV records the DNS server on `port` gives for `name` (healthy instances), over TCP (no truncation): the
    answer count of the reply's header. Parsing the reply with dnspython took the bench ~1.1-1.3 ms of CPU per
    poll (its 10 SRV records and their glue), on the 2 cores the servers were answering the flip with, for either
    server; reading the header is ~0.05 ms."""
    query = dns.message.make_query(name, "SRV").to_wire()
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(len(query).to_bytes(2, "big") + query)
        size = int.from_bytes(_read(sock, 2), "big")
        reply = _read(sock, size)
    if reply[:2] != query[:2] or reply[3] & 0x0F:  # another ID, or an error code: no records
        return 0
    return int.from_bytes(reply[6:8], "big")


def _read(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("the DNS server closed the connection mid-reply")
        out += chunk
    return out


def consul_dns_count(agent: engines.ConsulAgent, name: str) -> int:
    """SRV records Consul's own DNS gives for `name` (healthy instances)."""
    return srv_count(agent.ports["dns"], name)


_COUNTED: dict[tuple[Path, str], tuple[tuple[int, int, int], int, int]] = {}
WINDOW = 16 * 1024  # bytes read where the upstream was last found: one service's block is well under 1 kB


def upstream_count(path: Path, name: str) -> int:
    """Instances the nginx upstream `name` in the file at `path` lists (-1: no such file or upstream).
    Read again only when the file changed (both tools replace it by rename: a new inode). At 5,000 services the
    file is 2 MB and the poller shares the daemons' 2 cores, so each new file is first read only where the block
    was found last time (a flip of that service moves nothing before it): reading all of it took 0.3-0.5 ms of
    every flip at 5,000 and ~0 at 100, counted as the tool's. Searched as bytes, not decoded and matched with a
    regex (1.85 ms of each flip at 5,000)."""
    head = f"upstream {name} {{\n".encode()
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            known = _COUNTED.get((path, name))
            if known is not None and known[0] == stamp:
                return known[1]
            if known is not None and known[2] >= 0:
                found = _count_at(os.pread(f.fileno(), WINDOW + 1, max(0, known[2] - 1)), known[2], head)
                if found is not None:
                    _COUNTED[(path, name)] = (stamp, found, known[2])
                    return found
            data = f.read()
    except FileNotFoundError:
        return -1
    start = 0 if data.startswith(head) else data.find(b"\n" + head) + 1
    count = -1
    if start > 0 or data.startswith(head):
        end = data.find(b"}", start)
        count = data.count(b"server 127.1.", start, end if end >= 0 else len(data))
    else:
        start = -1
    _COUNTED[(path, name)] = (stamp, count, start)
    return count


def _count_at(window: bytes, offset: int, head: bytes) -> int | None:
    """The count from a window read at `offset` - 1 (the byte before the block, a newline unless it is the
    file's first), or None when the block is not there whole."""
    before, block = (b"\n", window) if offset == 0 else (window[:1], window[1:])
    if before != b"\n" or not block.startswith(head):
        return None
    end = block.find(b"}")
    return None if end < 0 else block.count(b"server 127.1.", 0, end)


class Anchor:
    """consul-template as a daemon over every service of the catalog, writing its own file."""

    def __init__(self, agent: engines.ConsulAgent, work: Path) -> None:
        self.agent, self.work = agent, work
        self.src, self.dest, self.log = work / "every.ctmpl", work / "every-ct.conf", work / "consul-template.log"
        self.src.write_text(CT_BIG)  # the Go twin of testbed.bulk.EVERY_SERVICE_TEMPLATE
        self.dest.unlink(missing_ok=True)
        self.binary = consul_template_binary()
        self.proc: subprocess.Popen | None = None

    def sync(self, services: int, timeout: float = 300) -> dict[str, float]:
        """Start it; seconds until its file lists every service (or NaN past the timeout), connections held."""
        started = time.perf_counter()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([self.binary, "-consul-addr", self.agent.http_addr, "-log-level", "warn",
                                          "-template", f"{self.src}:{self.dest}"], stdout=log,
                                         stderr=subprocess.STDOUT)
        seconds = float("nan")
        while time.perf_counter() - started < timeout:
            if self.dest.exists() and self.dest.read_text().count("upstream ") > services:
                seconds = time.perf_counter() - started
                break
            time.sleep(0.05)
        out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{self.agent.ports['http']} )"],
                             capture_output=True, text=True).stdout
        return {"anchor_s": seconds, "anchor_conns": len(re.findall(rf"pid={self.proc.pid},", out))}

    def upstream_count(self, name: str) -> int:
        return upstream_count(self.dest, name)

    def close(self) -> float:
        """Stop it; the 429s its log mentions."""
        if self.proc is not None:
            stop(self.proc)
        return float(self.log.read_text(errors="replace").count("429")) if self.log.exists() else 0.0


def json_rows(rows: list[tuple[int, dict[str, float]]], latency: dict[int, dict[str, list[float]]], instances: int,
              pct: Callable[[list[float], float], float]) -> list[dict]:
    """One row per size and figure: ours beside consul-template (file) and Consul's DNS (qps, flips)."""
    ct, cdns = f"consul-template {CT_VERSION}", "Consul DNS"
    out = []
    for size, r in rows:
        note = f"x{instances} instances"
        out.append(row("catalog: feed first sync (in-process)", size, r["feed_s"], None, "s", "", note))
        out.append(row("catalog: dns-balancer start -> serving", size, r["dns_s"], None, "s", "",
                       note + "; Consul's DNS has no sync of its own"))
        out.append(row("catalog: consul-templates start -> file lists every service", size, r["ct_s"],
                       r.get("anchor_s"), "s", ct if "anchor_s" in r else "", note))
        out.append(row("catalog: connections held to the agent", size, r["ct_conns"], r.get("anchor_conns"),
                       "connections", ct if "anchor_conns" in r else "", note + "; ours: consul-templates"))
        if "qps" in r:
            out.append(row("catalog: DNS qps (same 50 names)", size, r["qps"], r.get("consul_qps"), "queries/s",
                           cdns if "consul_qps" in r else "", note))
    for size, by_target in sorted(latency.items()):
        for ours, theirs, what, name in (("dns", "consul_dns", "DNS answer", cdns), ("file", "ct_file", "file", ct),
                                         ("go_file", "ct_file_go", "file (the .ctmpl)", ct)):
            if ours not in by_target:
                continue
            for p in (50, 99):
                anchor = pct(by_target[theirs], p) if theirs in by_target else None
                out.append(row(f"catalog: health flip -> {what} p{p}", size, pct(by_target[ours], p), anchor, "ms",
                               name if anchor is not None else "", f"x{instances} instances; each side alone"))
    return out
