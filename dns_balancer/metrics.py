"""Prometheus metrics, read at scrape time from the plain counters the hot path keeps (no per-query locks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dns_balancer.forward import Forwarder
from dns_balancer.mirror import Mirror
from dns_balancer.records import RCODE_NAMES, TYPE_NAMES
from dns_balancer.server import DnsServer
from dns_balancer.wire import Responder
from portside.consul import Reachability


@dataclass
class Sources:
    responder: Responder
    server: DnsServer
    mirror: Mirror
    consul: Reachability
    forwarder: Forwarder
    rebuilds: Callable[[], int]
    updates: Callable[[], int] = lambda: 0
    build_failures: Callable[[], int] = lambda: 0


def _type_name(qtype: int) -> str:
    return TYPE_NAMES.get(qtype, "none" if qtype < 0 else "other")


class DnsCollector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.s = sources

    def collect(self) -> Iterable[Metric]:
        yield from self._answers()
        yield from self._consul_and_mirror()
        yield from self._server()

    def _answers(self) -> Iterable[Metric]:
        r = self.s.responder
        queries = CounterMetricFamily(
            "dns_balancer_queries", "Queries answered, by question type and response code", labels=["qtype", "rcode"]
        )
        merged: dict[tuple[str, str], int] = {}
        for (qtype, rcode), n in r.query_counts().items():
            key = (_type_name(qtype), RCODE_NAMES.get(rcode, str(rcode)))
            merged[key] = merged.get(key, 0) + n
        for labels, n in sorted(merged.items()):
            queries.add_metric(list(labels), n)
        yield queries
        yield CounterMetricFamily("dns_balancer_truncated", "UDP answers sent with TC set", value=r.truncated)
        yield CounterMetricFamily(
            "dns_balancer_dropped", "Packets dropped unanswered (responses, under 12 bytes)", value=r.dropped
        )
        yield CounterMetricFamily(
            "dns_balancer_handler_errors", "Internal errors while answering (answered SERVFAIL)", value=r.errors
        )
        yield CounterMetricFamily(
            "dns_balancer_stale_answers", "Answers served while Consul could not be reached", value=r.stale_answers
        )

    def _consul_and_mirror(self) -> Iterable[Metric]:
        s, r = self.s, self.s.responder
        yield GaugeMetricFamily(
            "dns_balancer_consul_reachable", "1 when Consul answered every watch's last fetch (a 403 is an answer)",
            value=int(s.consul.reachable),
        )
        yield GaugeMetricFamily("dns_balancer_consul_permitted", "0 while Consul's ACLs refuse some watch (403)",
                                value=int(s.consul.permitted))
        yield CounterMetricFamily("dns_balancer_watch_errors", "Failed Consul fetches", value=s.consul.errors)
        responses = CounterMetricFamily("dns_balancer_consul_responses", "Consul answers by HTTP status",
                                        labels=["code"])
        for code, n in sorted(s.consul.responses.items()):
            responses.add_metric([code], n)
        yield responses
        feed = s.mirror.feed
        yield GaugeMetricFamily("dns_balancer_feed_reads_in_flight", "Non-blocking catalog reads running now",
                                value=feed.pool.running)
        yield GaugeMetricFamily("dns_balancer_feed_pool_size", "Most non-blocking reads at once (plus 3 watches)",
                                value=feed.pool.size)
        yield GaugeMetricFamily("dns_balancer_followed_services",
                                "Asked services followed with a blocking query each (--follow-asked)",
                                value=len(feed.followed))
        stats = CounterMetricFamily("dns_balancer_feed", "Feed activity", labels=["what"])
        for what, n in sorted(feed.stats.items()):
            stats.add_metric([what], n)
        yield stats
        yield GaugeMetricFamily("dns_balancer_mirror_synced", "1 once the first full sync is done",
                                value=int(s.mirror.synced.is_set()))
        snap = s.mirror.snapshot
        yield GaugeMetricFamily("dns_balancer_mirror_services", "Services in the mirror", value=len(snap.services))
        yield GaugeMetricFamily(
            "dns_balancer_mirror_instances", "Instances in the mirror (all health states)",
            value=sum(len(v) for v in snap.services.values()),
        )
        yield GaugeMetricFamily("dns_balancer_mirror_nodes", "Nodes in the mirror", value=len(snap.nodes))
        yield GaugeMetricFamily(
            "dns_balancer_zone_instances", "Healthy instances published in the zone", value=r.zone.instances
        )
        yield GaugeMetricFamily("dns_balancer_zone_entries", "Answers encoded so far (a name's on its first query)",
                                value=len(r.zone.table))
        yield CounterMetricFamily("dns_balancer_zone_rebuilds", "Whole-zone builds", value=s.rebuilds())
        yield CounterMetricFamily("dns_balancer_zone_updates", "Incremental zone updates", value=s.updates())
        yield CounterMetricFamily("dns_balancer_zone_build_failures",
                                  "Zone builds or updates that failed (the previous zone kept, the whole zone "
                                  "built again)", value=s.build_failures())

    def _server(self) -> Iterable[Metric]:
        s = self.s
        yield GaugeMetricFamily("dns_balancer_tcp_connections", "Open TCP connections", value=s.server.tcp_open)
        tcp = CounterMetricFamily("dns_balancer_tcp_closed", "TCP connections closed by us", labels=["reason"])
        for reason, n in s.server.tcp_closed.items():
            tcp.add_metric([reason], n)
        yield tcp
        yield CounterMetricFamily(
            "dns_balancer_refused_clients", "UDP queries refused: client outside --allow-from", value=s.server.refused
        )
        limiter = s.server.limiter
        if limiter is not None:
            rrl = CounterMetricFamily("dns_balancer_rate_limited", "Responses over the rate limit", labels=["action"])
            rrl.add_metric(["dropped"], limiter.dropped)
            rrl.add_metric(["slipped"], limiter.slipped)
            rrl.add_metric(["untracked"], limiter.untracked)
            yield rrl
        fwd = CounterMetricFamily("dns_balancer_forwarded", "Forwarding to recursors", labels=["result"])
        for result, n in s.forwarder.results.items():
            fwd.add_metric([result], n)
        yield fwd


def make_registry(sources: Sources, *more: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DnsCollector(sources))
    for collector in more:
        registry.register(collector)
    return registry
