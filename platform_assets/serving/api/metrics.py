"""Prometheus metrics of one API process, in its own registry (several apps in one process, as in the
tests, do not collide). Routes are labelled by their template, never the raw path."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ["route", "method", "status"]
        r = self.registry
        self.requests = Counter("shelfcast_http_requests", "Requests answered", labels, registry=r)
        self.latency = Histogram(
            "shelfcast_http_request_duration_seconds",
            "Time to answer",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bundle = Gauge(
            "shelfcast_bundle_info",
            "The bundle served (value 1)",
            ["generation", "model_version"],
            registry=r,
        )
        self.bundle_created = Gauge(
            "shelfcast_bundle_created_timestamp_seconds", "When the served bundle was made", registry=r
        )
        self.swaps = Counter("shelfcast_bundle_swaps", "Bundles swapped in without a restart", registry=r)
        self.outliers = Counter(
            "shelfcast_whatif_outliers", "What-if rows outside the series' history", ["kind"], registry=r
        )
        self.log_pending = Gauge(
            "shelfcast_request_log_pending", "Request log rows not yet written", registry=r
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        values = (route, method, str(status))
        self.requests.labels(*values).inc()
        self.latency.labels(*values).observe(seconds)

    def served(self, generation: str, model_version: str, created_at: float) -> None:
        self.bundle.clear()
        self.bundle.labels(generation, model_version).set(1)
        self.bundle_created.set(created_at)
