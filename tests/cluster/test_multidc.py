"""Two datacenters on one machine (testbed/multidc.py): dc1 and dc2, one Consul server and one client agent each,
WAN-joined on loopback, a Docker host with its registrator in each, real web containers with an HTTP health check.
A dns-balancer and a consul-templates on dc1's client agent. Consul's own DNS on that agent is the reference.
The tests run in order and share the datacenters (module scope); each leaves them whole again."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import cluster, engines
from testbed.multidc import TwoDatacenters, each
from tests.support import ct_harness, dnsb_harness
from tests.support.multidc_harness import (
    CHECK_INTERVAL,
    DcHost,
    addresses,
    consul_dns,
    holds,
    metric,
    wait_for,
)

pytestmark = pytest.mark.engines

FAILOVER_BOUND = CHECK_INTERVAL + 2.0  # s: all of dc1 failing -> answers from dc2 (and back on recovery)
JINJA = ("{% for s in service('web') %}{{ s.address }} dc1\n{% endfor %}"
         "{% for s in service('web', dc='dc2') %}{{ s.address }} dc2\n{% endfor %}")
GO = ('{{ range service "web" }}{{ .Address }} dc1\n{{ end }}'
      '{{ range service "web@dc2" }}{{ .Address }} dc2\n{{ end }}')
QUERIES = {
    "web-near": {"Service": "web", "OnlyPassing": True, "Failover": {"NearestN": 1}},
    "web-listed": {"Service": "web", "Failover": {"Datacenters": ["dc2"]}},
    "web-v1": {"Service": "web", "Tags": ["v1", "!canary"]},
}


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n  multidc: {line}", end="")


@pytest.fixture(scope="module")
def two() -> Iterator[TwoDatacenters]:
    with cluster.exclusive():  # the one-DC cluster's lock: the two take turns on this machine
        dcs = TwoDatacenters.on_loopback()
        dcs.start_consul()
        try:
            dcs.start_hosts()
            yield dcs
        finally:
            dcs.stop()


@pytest.fixture(scope="module")
def hosts(two: TwoDatacenters) -> Iterator[dict[str, DcHost]]:
    made = {name: DcHost(dc) for name, dc in two.dcs.items()}
    tags = {"dc1": ("v1", "v1,canary"), "dc2": ("v1", "v2")}

    def start(name: str) -> None:
        h = made[name].start()
        for t in tags[name]:
            h.run_web(t)
        wait_for(lambda: h.passing(two.dcs[name].servers[0]) == h.addresses(), 60,
                 f"{name}'s web instances passing in {name}'s catalog")

    try:
        each(start, made)  # the two hosts side by side: their image builds and first checks overlap
        yield made
    finally:
        each(DcHost.stop, made.values())


@pytest.fixture(scope="module")
def dnsd(two: TwoDatacenters) -> Iterator[dnsb_harness.Daemon]:
    daemon = dnsb_harness.Daemon(two.dcs["dc1"].client, "--ttl", "0", "--remote-idle", "60").start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def templates(two: TwoDatacenters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, int]]:
    work = tmp_path_factory.mktemp("multidc-ct")
    (work / "web.j2").write_text(JINJA)
    (work / "web.ctmpl").write_text(GO)
    http = engines.free_port()
    daemon = ct_harness.Daemon(["-template", f"{work / 'web.j2'}:{work / 'jinja.txt'}",
                                "-template", f"{work / 'web.ctmpl'}:{work / 'go.txt'}",
                                "--http-addr", f"127.0.0.1:{http}"], work, two.dcs["dc1"].client.env)
    try:
        yield work / "jinja.txt", work / "go.txt", http
    finally:
        daemon.stop()


def ours(dnsd: dnsb_harness.Daemon, name: str, rdtype: str = "A") -> list[str] | str:
    return addresses(dnsd.ask(name, rdtype, timeout=5))


def theirs(two: TwoDatacenters, name: str, rdtype: str = "A") -> list[str] | str:
    return addresses(consul_dns(two.dcs["dc1"].client, name, rdtype))


def test_each_datacenter_holds_its_own_hosts_instances(two: TwoDatacenters, hosts: dict[str, DcHost]) -> None:
    for name, h in hosts.items():
        entries = two.dcs[name].servers[0].api("/v1/catalog/service/web") or []
        assert sorted(e["ServiceAddress"] for e in entries) == h.addresses()
        assert {e["Datacenter"] for e in entries} == {name} and {e["Node"] for e in entries} == {f"{name}-client"}
    assert two.dcs["dc1"].client.api("/v1/catalog/datacenters") == ["dc1", "dc2"]


def test_other_datacenter_names_side_by_side_with_consul(two: TwoDatacenters, hosts: dict[str, DcHost],
                                                         dnsd: dnsb_harness.Daemon, capsys) -> None:
    dc2 = hosts["dc2"]
    t0 = time.monotonic()
    first = ours(dnsd, "web.service.dc2.consul")  # the very first question: held for dc2's first sync
    took = time.monotonic() - t0
    assert first == dc2.addresses() == theirs(two, "web.service.dc2.consul")
    v1 = dc2.addresses(lambda c: "v1" in c.labels["SERVICE_TAGS"])
    assert ours(dnsd, "v1.web.service.dc2.consul") == v1 == theirs(two, "v1.web.service.dc2.consul")
    srv = dnsd.ask("_web._tcp.service.dc2.consul", "SRV")
    assert sorted(rd.port for rrset in srv.answer for rd in rrset) == [80, 80]
    assert sorted(r[0].address for r in srv.additional) == dc2.addresses()
    assert ours(dnsd, "web.service.dc9.consul") == "NXDOMAIN" == theirs(two, "web.service.dc9.consul")
    assert ours(dnsd, "nothing.service.dc2.consul") == "NXDOMAIN" == theirs(two, "nothing.service.dc2.consul")
    assert ours(dnsd, "web.service.consul") == hosts["dc1"].addresses() == theirs(two, "web.service.consul")
    v2 = next(c for c in dc2.webs() if c.labels["SERVICE_TAGS"] == "v2")
    dc2.set_healthy(v2, False)  # only dc2's healthy instances are served
    try:
        wait_for(lambda: ours(dnsd, "web.service.dc2.consul") == v1 == theirs(two, "web.service.dc2.consul"), 30,
                 f"dc2's failing instance left out: {v1}")
    finally:
        dc2.set_healthy(v2, True)
    wait_for(lambda: ours(dnsd, "web.service.dc2.consul") == dc2.addresses(), 30, "dc2's instance healthy again")
    report(capsys, f"first question for dc2 answered (right) after {took * 1000:.0f} ms; "
                   f"then {dnsd.metrics()['dns_balancer_remote_datacenters']:.0f} datacenter mirrored")


def test_prepared_queries_side_by_side_with_consul(two: TwoDatacenters, hosts: dict[str, DcHost],
                                                   dnsd: dnsb_harness.Daemon) -> None:
    client = two.dcs["dc1"].client
    for name, service in QUERIES.items():
        client.api("/v1/query", "POST", {"Name": name, "Service": service})
    v1 = hosts["dc1"].addresses(lambda c: c.labels["SERVICE_TAGS"] == "v1")
    expected = {"web-near": hosts["dc1"].addresses(), "web-listed": hosts["dc1"].addresses(), "web-v1": v1}
    for name, want in expected.items():
        assert ours(dnsd, f"{name}.query.consul") == want == theirs(two, f"{name}.query.consul"), name
    srv = dnsd.ask("_web-near._tcp.query.consul", "SRV")
    assert len(srv.answer[0]) == 2
    assert ours(dnsd, "no-such-query.query.consul") == "NXDOMAIN" == theirs(two, "no-such-query.query.consul")


def test_prepared_query_fails_over_to_dc2_and_back(two: TwoDatacenters, hosts: dict[str, DcHost],
                                                    dnsd: dnsb_harness.Daemon, capsys) -> None:
    """Every dc1 container's /health starts failing: its HTTP check goes critical at the next run, and the
    prepared queries' answers move to dc2 (NearestN and Datacenters alike); healthy again, they move back.
    Consul's own DNS is watched in the same loop, for comparison."""
    dc1, dc2 = hosts["dc1"], hosts["dc2"]
    names = [f"{n}.query.consul" for n in ("web-near", "web-listed")]
    askers = {"ours": lambda n: ours(dnsd, n), "consul": lambda n: theirs(two, n)}

    def watch_move(want: list[str]) -> dict[str, float]:
        """Seconds until ours, then Consul's DNS, answered every name with `want`."""
        t0, seen = time.monotonic(), {}

        def moved(who: str) -> bool:
            for other, ask in askers.items():
                if other not in seen and all(ask(n) == want for n in names):
                    seen[other] = time.monotonic() - t0
            return who in seen

        wait_for(lambda: moved("ours"), 30, f"the prepared queries answered with {want}")
        wait_for(lambda: moved("consul"), 10, f"Consul's DNS answering with {want}")
        return seen

    assert [ours(dnsd, n) for n in names] == [dc1.addresses()] * 2
    for c in dc1.webs():
        dc1.set_healthy(c, False)
    try:
        away = watch_move(dc2.addresses())
    finally:
        for c in dc1.webs():
            dc1.set_healthy(c, True)
    back = watch_move(dc1.addresses())
    report(capsys, f"dc1 failing: prepared queries from dc2 after {away['ours']:.2f} s (Consul's DNS "
                   f"{away['consul']:.2f} s); dc1 healthy: back after {back['ours']:.2f} s (Consul's DNS "
                   f"{back['consul']:.2f} s); check interval {CHECK_INTERVAL:.0f} s")
    assert away["ours"] <= FAILOVER_BOUND and back["ours"] <= FAILOVER_BOUND, (away, back)


def file_lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines()) if path.exists() else ["<not rendered yet>"]


def expected_lines(hosts: dict[str, DcHost]) -> list[str]:
    return sorted(f"{a} {name}" for name, h in hosts.items() for a in h.addresses())


def test_templates_union_both_datacenters(hosts: dict[str, DcHost], templates: tuple[Path, Path, int]) -> None:
    jinja, go, _ = templates
    want = expected_lines(hosts)
    wait_for(lambda: file_lines(jinja) == want == file_lines(go), 30, f"both files listing {want}")
    extra = hosts["dc2"].run_web("v3")
    try:
        want = expected_lines(hosts)
        wait_for(lambda: file_lines(jinja) == want == file_lines(go), 30, "a new dc2 instance in both files")
    finally:
        extra.remove(force=True)
    want = expected_lines(hosts)
    wait_for(lambda: file_lines(jinja) == want == file_lines(go), 30, "the removed dc2 instance gone from both")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
        return resp.read().decode()


def test_wan_partition_keeps_the_last_good_dc2_data(two: TwoDatacenters, hosts: dict[str, DcHost],
                                                    templates: tuple[Path, Path, int], dnsd: dnsb_harness.Daemon,
                                                    capsys) -> None:
    jinja, go, http = templates
    want = expected_lines(hosts)
    wait_for(lambda: file_lines(jinja) == want == file_lines(go), 30, "both files before the partition")
    dc2_addresses = ours(dnsd, "web.service.dc2.consul")
    assert dc2_addresses == hosts["dc2"].addresses()
    ct_dc2 = 'consul_templates_datacenter_reachable{datacenter="dc2"}'
    dns_dc2 = 'dns_balancer_datacenter_reachable{datacenter="dc2"}'
    wait_for(lambda: metric(scrape(http), ct_dc2) == 1 and metric(scrape(dnsd.http), dns_dc2) == 1, 30,
             "dc2 reachable in both daemons' metrics before the partition")
    servers = two.dcs["dc2"].servers
    for s in servers:
        s.kill()
    t0 = time.monotonic()
    try:
        def both_say_so() -> bool:
            ours(dnsd, "web.service.dc2.consul")  # dc2's mirror is in use (not idle)
            return metric(scrape(http), ct_dc2) == 0 and metric(scrape(dnsd.http), dns_dc2) == 0

        took = wait_for(both_say_so, 60, "dc2 unreachable in both daemons' metrics")
        assert metric(scrape(http), 'consul_templates_datacenter_reachable{datacenter="local"}') == 1
        assert metric(scrape(dnsd.http), 'dns_balancer_datacenter_reachable{datacenter="dc1"}') == 1
        holds(lambda: file_lines(jinja) == want == file_lines(go)
              and ours(dnsd, "web.service.dc2.consul") == dc2_addresses
              and ours(dnsd, "web.service.consul") == hosts["dc1"].addresses(),
              1.0, "the last good dc2 instances in both files and DNS, local names untouched")
    finally:
        for s in servers:
            s.start()
        wait_for(two.formed, 90, "dc2 back on the WAN")
    back = wait_for(lambda: metric(scrape(http), ct_dc2) == 1 and metric(scrape(dnsd.http), dns_dc2) == 1, 60,
                    "dc2 reachable again in both daemons' metrics")
    extra = hosts["dc2"].run_web("v4")  # dc2 followed again after the partition
    try:
        want = expected_lines(hosts)
        wait_for(lambda: file_lines(jinja) == want == file_lines(go), 60, "a dc2 change after the partition")
        wait_for(lambda: ours(dnsd, "web.service.dc2.consul") == hosts["dc2"].addresses(), 30,
                 "the dc2 change in DNS")
    finally:
        extra.remove(force=True)
    report(capsys, f"dc2's servers killed: both daemons said dc2 unreachable after {took:.1f} s, kept its last good "
                   f"instances; dc2 back: reachable again {back:.1f} s after it rejoined "
                   f"({time.monotonic() - t0:.0f} s in all)")


def test_an_unasked_datacenter_is_mirrored_no_longer(two: TwoDatacenters, hosts: dict[str, DcHost], capsys) -> None:
    """The mirror of dc2 starts with the first question and stops after --remote-idle of silence (1 s here, so
    at most 1.5 s); the next question starts it again and is answered right."""
    daemon = dnsb_harness.Daemon(two.dcs["dc1"].client, "--ttl", "0", "--remote-idle", "1").start()
    started, stopped = 'dns_balancer_remote_total{what="started"}', 'dns_balancer_remote_total{what="stopped"}'
    try:
        want = hosts["dc2"].addresses()
        assert addresses(daemon.ask("web.service.dc2.consul", timeout=5)) == want
        assert daemon.metrics()[started] == 1  # counters: whatever the machine's load, no race with the idle stop
        quiet = wait_for(lambda: daemon.metrics()["dns_balancer_remote_datacenters"] == 0, 15,
                         "dc2's mirror stopped after a quiet second")
        assert daemon.metrics()[stopped] == 1
        assert addresses(daemon.ask("web.service.dc2.consul", timeout=5)) == want  # held until dc2 synced again
        assert daemon.metrics()[started] == 2
        report(capsys, f"dc2's mirror stopped {quiet:.1f} s after its last question was seen (--remote-idle 1), "
                       "started again by the next one, answered right")
    finally:
        daemon.stop()
