"""The registrator's Prometheus metrics, on a registry of its own (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter("registrator_docker_events", "Docker events seen, by action", ["action"], registry=r)
        self.registrations = Counter("registrator_registrations", "Service registrations sent to Consul", registry=r)
        self.deregistrations = Counter("registrator_deregistrations", "Service deregistrations", registry=r)
        self.errors = Counter("registrator_errors", "Errors, by kind", ["kind"], registry=r)
        self.skipped = Counter("registrator_skipped_services",
                               "Services (or checks) not registered, by reason: metadata, service_id, limit, "
                               "script_check, owner", ["reason"], registry=r)
        self.reconcile = Histogram("registrator_reconcile_seconds", "Duration of a full reconcile", registry=r)
        self.queue_depth = Gauge("registrator_queue_depth", "Events waiting in per-container queues", registry=r)
        self.services = Gauge("registrator_services", "Services this node wants registered", registry=r)
