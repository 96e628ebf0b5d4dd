"""Prometheus metrics of one API process, in its own registry (several apps in one process, as in the
tests, do not collide). Routes are labelled by their template, never the raw path."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from platform_assets.serving.outliers import Scores

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The robust input distance (serving/reference.py): ~3-10 for training-like rows.
DISTANCE_BUCKETS = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0, 50.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ["route", "method", "status"]
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
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
            "shelfcast_whatif_outliers", "What-if rows outside what the model has seen", ["kind"], registry=r
        )
        self.flagged = Counter(
            "shelfcast_whatif_flagged_requests", "What-if requests with at least one outlier row", registry=r
        )
        self.distance = Histogram(
            "shelfcast_whatif_input_distance",
            "Per what-if request, the largest robust distance of a changed row's model inputs",
            buckets=DISTANCE_BUCKETS,
            registry=r,
        )
        self.window = Gauge(
            "shelfcast_request_window",
            "The newest final request window, merged over every replica: each statistic (label: route and "
            "status, or model input)",
            ["statistic", "label"],
            registry=r,
        )
        self.window_start = Gauge(
            "shelfcast_request_window_start_timestamp_seconds", "Start of that window", registry=r
        )
        self.log_pending = Gauge(
            "shelfcast_request_log_pending", "Request log rows not yet written", registry=r
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count and time a request; each label set's children are looked up once (routes are templates
        and statuses few, so the cache stays small), not through `labels` on every request."""
        children = self._children.get((route, method, status))
        if children is None:
            values = (route, method, str(status))
            children = self._children[(route, method, status)] = (
                self.requests.labels(*values),
                self.latency.labels(*values),
            )
        children[0].inc()
        children[1].observe(seconds)

    def scored(self, scores: Scores) -> None:
        for kind, rows in scores.kinds.items():
            self.outliers.labels(kind).inc(rows)
        if scores.flagged:
            self.flagged.inc()
        if scores.distance_max is not None:
            self.distance.observe(scores.distance_max)

    def window_final(self, start_us: int, rows: list[tuple]) -> None:
        self.window.clear()
        for statistic, label, value in rows:
            if value is not None:
                self.window.labels(statistic, label).set(value)
        self.window_start.set(start_us / 1e6)

    def served(self, generation: str, model_version: str, created_at: float) -> None:
        self.bundle.clear()
        self.bundle.labels(generation, model_version).set(1)
        self.bundle_created.set(created_at)
