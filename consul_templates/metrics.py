"""Prometheus metrics of one consul-templates daemon, in its own registry (no process-wide globals)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from portside.consul.bydc import ReachabilityByDatacenter


def _counter(registry: CollectorRegistry, name: str, doc: str) -> Counter:
    return Counter(name, doc, ["template"], registry=registry)


class _WatchErrors(Collector):
    def __init__(self, consul: ReachabilityByDatacenter) -> None:
        self.consul = consul

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily("consul_templates_watch_errors", "Failed Consul fetches", value=self.consul.errors)
        by_dc = GaugeMetricFamily(
            "consul_templates_datacenter_reachable", "1 when every read of this datacenter answered last time "
            "('local': the agent's own); 0 while its templates render from its last good data", labels=["datacenter"])
        for name, reach in sorted(self.consul.datacenters.items()):
            by_dc.add_metric([name], int(reach.reachable))
        yield by_dc


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.renders = _counter(r, "consul_templates_renders", "Complete renders")
        self.render_errors = _counter(r, "consul_templates_render_errors", "Renders refused (unsafe value, error)")
        self.writes = _counter(r, "consul_templates_writes", "Files swapped in")
        self.skipped = _counter(r, "consul_templates_skipped_identical", "Renders identical to the live file")
        self.check_failures = _counter(r, "consul_templates_check_failures", "check_command failures")
        self.command_failures = Counter("consul_templates_command_failures", "command failures (file restored)",
                                        ["command"], registry=r)
        self.commands = Counter("consul_templates_commands", "commands run", ["command"], registry=r)
        self.render_seconds = Histogram(
            "consul_templates_render_seconds", "Time to render one template", ["template"], registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.values_refused = Counter(
            "consul_templates_values_refused", "Values a template's guard refused (reason: instance_dropped, when "
            "the rest rendered without that service instance; render_failed, when the live file was kept)",
            ["template", "reason"], registry=r)
        self.watches = Gauge("consul_templates_watches_active", "Dependencies watched", registry=r)
        self.templates = Gauge("consul_templates_templates", "Templates configured", registry=r)
        # Consul as the watches see it (portside's Reachability observer, per datacenter too, read at scrape time)
        self.consul = ReachabilityByDatacenter()
        Gauge("consul_templates_consul_reachable", "1 when Consul answered every watch's last fetch (a 403 is an "
              "answer)", registry=r).set_function(lambda: int(self.consul.reachable))
        Gauge("consul_templates_consul_permitted", "0 while Consul's ACLs refuse some watch (403)",
              registry=r).set_function(lambda: int(self.consul.permitted))
        r.register(_WatchErrors(self.consul))
