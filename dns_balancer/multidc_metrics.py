"""Prometheus metrics of other datacenters and prepared queries, read at scrape time (no per-query work)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dns_balancer.elsewhere import HoldingForwarder
from dns_balancer.queries import PreparedAnswers, datacenters_of
from dns_balancer.remote import RemoteDatacenters
from portside.consul import Reachability


class MultiDcCollector(Collector):
    def __init__(self, remote: RemoteDatacenters, queries: PreparedAnswers, forwarder: HoldingForwarder,
                 local: Reachability, local_name: Callable[[], str | None]) -> None:
        self.remote, self.queries, self.forwarder = remote, queries, forwarder
        self.local, self.local_name = local, local_name

    def collect(self) -> Iterable[Metric]:
        sites = sorted(self.remote.sites.items())
        reach = GaugeMetricFamily("dns_balancer_datacenter_reachable", "1 when every read of this datacenter's "
                                  "mirror answered last time; 0 while its answers come from its last good data",
                                  labels=["datacenter"])
        reach.add_metric([self.local_name() or "local"], int(self.local.reachable))
        for name, site in sites:
            reach.add_metric([name], int(site.reachability.reachable))
        yield reach
        yield GaugeMetricFamily("dns_balancer_remote_datacenters", "Other datacenters mirrored now (asked lately)",
                                value=len(sites))
        first = GaugeMetricFamily("dns_balancer_remote_first_sync_seconds", "From the first question for a "
                                  "datacenter to its first zone served", labels=["datacenter"])
        for name, site in sites:
            if site.first_sync is not None:
                first.add_metric([name], site.first_sync)
        yield first
        stats = CounterMetricFamily("dns_balancer_remote", "Other datacenters: mirrors started and stopped, reads "
                                    "of the datacenter list", labels=["what"])
        for what, n in sorted(self.remote.stats.items()):
            stats.add_metric([what], n)
        yield stats
        held = CounterMetricFamily("dns_balancer_held_queries", "First questions held until their data came",
                                   labels=["result"])
        for result, n in sorted(self.forwarder.held_results.items()):
            held.add_metric([result], n)
        yield held
        yield GaugeMetricFamily("dns_balancer_prepared_queries_asked", "Prepared query names asked lately",
                                value=len(self.queries.active))
        served = GaugeMetricFamily("dns_balancer_prepared_queries_served_from", "Asked prepared query names served "
                                   "by each datacenter now (failover shows here)", labels=["datacenter"])
        entries = self.queries.built.entries.values()
        for dc in sorted(datacenters_of(entries)):
            served.add_metric([dc], sum(1 for e in entries if e.result is not None and e.result.instances
                                        and e.result.datacenter == dc))
        yield served
