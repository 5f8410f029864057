"""dns-balancer across two datacenters (testbed/multidc.py: dc1 and dc2 WAN-joined on loopback), beside Consul's DNS.

One dns-balancer on dc1's client agent; 50 services x 10 instances registered in each datacenter. Measured:

1. first question for dc2: a fresh mirror of dc2 each round (`--remote-idle` short, the mirror stopped between
   rounds): client-side time of `svcNN.service.dc2.consul` (held until dc2's first sync), and dc2's first sync
   as the daemon saw it;
2. steady state: dnsperf (A + SRV of every service) on local names and on dc2's names, ours and Consul's DNS,
   in alternating order, several runs; ratios;
3. prepared queries, to decide how to serve them: `/v1/query/<id>/execute` as a DNS server would call it per
   question (local result; failover to dc2), against our answer to `<name>.query.consul` (a table lookup), and
   dnsperf on the query name for ours and Consul's DNS (which executes per question); then how fast each follows
   a failover: every local instance's TTL check failed at once, time until the answer comes from dc2.

    .venv/bin/python bench/dns_multidc.py [--runs 3] [--duration 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import dns.message
import dns.query

from bench.dns_bench import ROOT, dnsperf, prioritize, wait_http
from testbed import engines
from testbed.cluster import exclusive
from testbed.multidc import TwoDatacenters

SERVICES, INSTANCES = 50, 10


def register(agent: engines.ConsulAgent, dc_index: int) -> None:
    def one(job: tuple[int, int]) -> None:
        s, i = job
        agent.api("/v1/agent/service/register", "PUT", {
            "ID": f"svc{s:02d}-{i}", "Name": f"svc{s:02d}", "Address": f"198.19.{100 + dc_index}.{s * 4 + i}",
            "Port": 8000 + i, "Check": {"CheckID": f"svc{s:02d}-{i}", "TTL": "1h", "Status": "passing"}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, [(s, i) for s in range(SERVICES) for i in range(INSTANCES)]))


def query_file(directory: str, suffix: str, name: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        for s in range(SERVICES):
            f.write(f"svc{s:02d}.service{suffix}.consul A\n_svc{s:02d}._tcp.service{suffix}.consul SRV\n")
    return path


def ask(port: int, name: str, host: str = "127.0.0.1", timeout: float = 5.0) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=timeout)


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {k: float(v) for k, _, v in (line.rpartition(" ") for line in text.splitlines())
            if k and not k.startswith("#")}


def pct(values: list[float]) -> str:
    v = sorted(values)
    return (f"p50 {statistics.median(v) * 1000:.1f} ms, p99 {v[min(len(v) - 1, int(len(v) * 0.99))] * 1000:.1f} ms, "
            f"max {v[-1] * 1000:.1f} ms (n={len(v)})")


def first_questions(port: int, http: int, rounds: int) -> None:
    client, server = [], []
    for r in range(rounds):
        engines.wait_until(lambda: metrics(http).get("dns_balancer_remote_datacenters") == 0, 30, "dc2 mirror idle")
        t0 = time.monotonic()
        msg = ask(port, f"svc{r % SERVICES:02d}.service.dc2.consul")
        client.append(time.monotonic() - t0)
        assert msg.rcode() == 0 and len(msg.answer[0]) == INSTANCES, msg
        server.append(metrics(http)['dns_balancer_remote_first_sync_seconds{datacenter="dc2"}'])
    print(f"1. first question for dc2 ({SERVICES} services x {INSTANCES} there), {rounds} fresh mirrors:")
    print(f"   answered after {pct(client)}; dc2's first sync as the daemon saw it: {pct(server)}", flush=True)


def steady(ports: dict[str, int], hosts: dict[str, str], files: dict[str, str], args: argparse.Namespace) -> None:
    print(f"2. steady state, dnsperf -c {args.clients} -T 1, {args.duration:.0f} s each, A + SRV of "
          f"{SERVICES} services:", flush=True)
    rows: dict[str, list[float]] = {}
    order = [("ours", "local"), ("ours", "dc2"), ("consul", "local"), ("consul", "dc2")]
    for run in range(args.runs):
        for server, names in (order if run % 2 == 0 else order[::-1]):
            ask(ports["ours"], "svc00.service.dc2.consul")  # dc2 mirrored (the idle stop may have run)
            time.sleep(1)
            got = dnsperf(ports[server], files[names], args.duration, args.clients, nice=args.priority,
                          server=hosts[server])
            rows.setdefault(f"{server} {names}", []).append(got["qps"])
    for key, qps in rows.items():
        print(f"   {key:<13} qps {' '.join(f'{q:8.0f}' for q in qps)}")
    for run in range(args.runs):
        ours_local, ours_dc2, consul_dc2 = (rows[k][run] for k in ("ours local", "ours dc2", "consul dc2"))
        print(f"   run {run + 1}: ours dc2/ours local {ours_dc2 / ours_local:.2f}, ours dc2/consul dc2 "
              f"{ours_dc2 / consul_dc2:.1f}x", flush=True)


def execute_latency(agent: engines.ConsulAgent, query_id: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection(agent.bind, agent.ports["http"], timeout=10)
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        conn.request("GET", f"/v1/query/{query_id}/execute")
        body = json.loads(conn.getresponse().read())
        out.append(time.monotonic() - t0)
        assert body["Nodes"], body
    conn.close()
    return out


def udp_latency(port: int, name: str, n: int, host: str = "127.0.0.1") -> list[float]:
    wire = dns.message.make_query(name, "A").to_wire()
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        for _ in range(n):
            t0 = time.monotonic()
            s.sendto(wire, (host, port))
            s.recv(65535)
            out.append(time.monotonic() - t0)
    return out


def prepared(two: TwoDatacenters, ports: dict[str, int], tmp: str, args: argparse.Namespace) -> None:
    dc1, dc2 = two.dcs["dc1"].client, two.dcs["dc2"].client
    dc2.api("/v1/agent/service/register", "PUT", {"ID": "only2", "Name": "only2", "Address": "198.19.102.250",
                                                  "Port": 80})
    ids = {name: dc1.api("/v1/query", "POST", {"Name": name, "Service": {"Service": svc, "OnlyPassing": True,
                                                                          "Failover": {"NearestN": 1}}})["ID"]
           for name, svc in (("near", "svc01"), ("over", "only2"))}
    for name in ids:
        ask(ports["ours"], f"{name}.query.consul")  # asked once: evaluated and mirrored from now on
    print("3. prepared queries (a query on svc01, NearestN 1; one on a service only dc2 has):")
    for name, where in (("near", "local result"), ("over", "failover to dc2")):
        qname = f"{name}.query.consul"
        ask(ports["ours"], qname)  # --remote-idle is short here: the mirror may have stopped meanwhile
        print(f"   /v1/query/<id>/execute, {where}: {pct(execute_latency(dc1, ids[name], args.samples))}")
        print(f"   our DNS answer,          {where}: {pct(udp_latency(ports['ours'], qname, args.samples))}")
        print(f"   Consul's DNS answer,     {where}: "
              f"{pct(udp_latency(ports['consul'], qname, args.samples, dc1.bind))}", flush=True)
        path = os.path.join(tmp, f"{name}.txt")
        with open(path, "w") as f:
            f.write(f"{name}.query.consul A\n")
        ours = dnsperf(ports["ours"], path, args.duration, args.clients, nice=args.priority)["qps"]
        theirs = dnsperf(ports["consul"], path, args.duration, args.clients, nice=args.priority, server=dc1.bind)
        print(f"   dnsperf on the query name: ours {ours:.0f} qps, Consul's DNS {theirs['qps']:.0f} qps "
              f"({ours / theirs['qps']:.1f}x)", flush=True)
    follow_failover(two, ports)


def follow_failover(two: TwoDatacenters, ports: dict[str, int]) -> None:
    dc1 = two.dcs["dc1"].client
    moved: dict[str, float] = {}
    for rounds in range(3):
        for i in range(INSTANCES):
            dc1.api(f"/v1/agent/check/fail/svc01-{i}", "PUT")
        t0 = time.monotonic()
        seen: dict[str, float] = {}
        while len(seen) < 2 and time.monotonic() - t0 < 10:
            for who, port, host in (("ours", ports["ours"], "127.0.0.1"), ("consul", ports["consul"], dc1.bind)):
                if who not in seen:
                    msg = ask(port, "near.query.consul", host)
                    if msg.answer and str(msg.answer[0][0].address).startswith("198.19.102."):
                        seen[who] = time.monotonic() - t0
        for who, took in seen.items():
            moved[f"{who} {rounds}"] = took
        for i in range(INSTANCES):
            dc1.api(f"/v1/agent/check/pass/svc01-{i}", "PUT")
        time.sleep(1)
    print("   every local instance's TTL check failed -> answer from dc2: "
          + "; ".join(f"{k}: {v * 1000:.0f} ms" for k, v in moved.items()), flush=True)


def start_ours(two: TwoDatacenters, tmp: str, nice: int) -> tuple[subprocess.Popen, int, int]:
    port, http = engines.free_ports(2)
    log = open(os.path.join(tmp, "dns-balancer.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "dns_balancer", "--listen", f"127.0.0.1:{port}", "--http-addr",
                             f"127.0.0.1:{http}", "--log-level", "warning", "--ttl", "0", "--remote-idle", "2"],
                            env={**os.environ, **two.dcs["dc1"].client.env}, cwd=ROOT, stdout=log, stderr=log,
                            start_new_session=True)
    wait_http(f"http://127.0.0.1:{http}/metrics",
              lambda text: f"dns_balancer_zone_instances {float(SERVICES * INSTANCES + 1)}" in text, 60,
              "dns-balancer mirror")
    prioritize(proc.pid, nice)
    return proc, port, http


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8, help="seconds per dnsperf run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10, help="fresh dc2 mirrors for the first-question figures")
    ap.add_argument("--samples", type=int, default=300, help="sequential requests per latency figure")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--priority", type=int, default=-10 if os.geteuid() == 0 else 0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dnsmultidc-")
    with exclusive():
        two = TwoDatacenters.on_loopback()
        proc = None
        try:
            two.start_consul()
            for i, dc in enumerate(two.dcs.values()):
                register(dc.client, i + 1)
            proc, port, http = start_ours(two, tmp, args.priority)
            for agent in two.agents:
                prioritize(agent.proc.pid, args.priority)  # type: ignore[union-attr]
            print(f"two datacenters, {SERVICES} x {INSTANCES} in each; load {os.getloadavg()[0]:.1f}", flush=True)
            first_questions(port, http, args.rounds)
            ports = {"ours": port, "consul": two.dcs["dc1"].client.ports["dns"]}
            files = {"local": query_file(tmp, "", "local.txt"), "dc2": query_file(tmp, ".dc2", "dc2.txt")}
            steady(ports, {"ours": "127.0.0.1", "consul": two.dcs["dc1"].client.bind}, files, args)
            prepared(two, ports, tmp, args)
            return 0
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
            two.stop()


if __name__ == "__main__":
    sys.exit(main())
