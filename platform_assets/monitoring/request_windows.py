"""Event-time tumbling windows over served requests, as partial aggregates that merge exactly.

A request belongs to the window its `received_at` falls in (integer microseconds since the epoch, so
the request log recomputes the same windows). It is recorded when answered, at `received_at +
latency`: up to `lateness` after its window's end it still counts in its window (`late_counted`);
later, it is accounted in the window open at that moment as `late_dropped`, never lost silently.

A `Partial` holds only counts: requests per route and status, latencies in fixed log-spaced buckets,
what-if requests and flagged ones, and each model input's values in its fixed reference bins. Two
partials add up to the partial of both request sets, so replicas keep their own and any reader merges
them, in any order, with the same result as one process that saw every request. Latency quantiles are
read off the merged buckets (each bucket's upper edge, at most 6% above the true value); PSI,
Jensen-Shannon and Wasserstein compare the merged bin counts with the reference shares (the batch
checks' own PSI; Wasserstein between the two binned distributions placed at the reference bins'
means, exact given the bins, not the raw-sample distance)."""

import math
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import jensenshannon

from platform_assets.monitoring.drift import psi_from_counts

US = 1_000_000
# Latency buckets: 40 per decade from 0.1 ms to 100 s (upper edges, seconds); the last is open.
LATENCY_EDGES = tuple(10 ** (-4 + i / 40) for i in range(241))
QUANTILES = (0.5, 0.95, 0.99)
WASSERSTEIN_STD_FLOOR = 1e-3  # as the batch checks (monitoring/drift.py)


@dataclass(frozen=True)
class WindowSpec:
    seconds: float = 15.0
    lateness: float = 6.0

    @property
    def width_us(self) -> int:
        return round(self.seconds * US)

    def start_of(self, at_us: int) -> int:
        return at_us - at_us % self.width_us

    def final_at(self, start_us: int) -> int:
        """When a window's result is final: its end plus the allowed lateness."""
        return start_us + self.width_us + round(self.lateness * US)


@dataclass(frozen=True)
class Event:
    """One answered request: received at `at_us`, recorded at `at_us + latency_us`."""

    at_us: int
    route: str
    method: str
    status: int
    latency_us: int
    scored: bool = False  # a what-if whose inputs were scored
    flagged: bool = False  # ... with an outlier
    bins: dict[str, list[int]] | None = None

    @property
    def recorded_us(self) -> int:
        return self.at_us + self.latency_us


@dataclass
class Partial:
    requests: Counter = field(default_factory=Counter)  # "METHOD route status" -> count
    latency: Counter = field(default_factory=Counter)  # bucket index -> count
    scored: int = 0
    flagged: int = 0
    bins: dict[str, list[int]] = field(default_factory=dict)
    late_counted: int = 0
    late_dropped: int = 0

    def add(self, event: Event, late: bool) -> None:
        self.requests[f"{event.method} {event.route} {event.status}"] += 1
        self.latency[latency_bucket(event.latency_us)] += 1
        self.late_counted += late
        if event.scored:
            self.scored += 1
            self.flagged += event.flagged
            for name, counts in (event.bins or {}).items():
                mine = self.bins.setdefault(name, [0] * len(counts))
                if len(mine) == len(counts):  # a bundle swap mid-window may change an input's bins
                    self.bins[name] = [a + b for a, b in zip(mine, counts, strict=True)]

    def merge(self, other: "Partial") -> "Partial":
        out = Partial.from_json(self.as_json())
        out.requests.update(other.requests)
        out.latency.update(other.latency)
        out.scored += other.scored
        out.flagged += other.flagged
        out.late_counted += other.late_counted
        out.late_dropped += other.late_dropped
        for name, counts in other.bins.items():
            mine = out.bins.setdefault(name, [0] * len(counts))
            if len(mine) == len(counts):
                out.bins[name] = [a + b for a, b in zip(mine, counts, strict=True)]
        return out

    def as_json(self) -> dict:
        return {
            "requests": dict(sorted(self.requests.items())),
            "latency": {str(k): v for k, v in sorted(self.latency.items())},
            "scored": self.scored,
            "flagged": self.flagged,
            "bins": dict(sorted(self.bins.items())),
            "late_counted": self.late_counted,
            "late_dropped": self.late_dropped,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Partial":
        return cls(
            requests=Counter(data["requests"]),
            latency=Counter({int(k): v for k, v in data["latency"].items()}),
            scored=data["scored"],
            flagged=data["flagged"],
            bins={k: list(v) for k, v in data["bins"].items()},
            late_counted=data["late_counted"],
            late_dropped=data["late_dropped"],
        )


def latency_bucket(latency_us: int) -> int:
    """The first edge at or above the latency (bisect on the tuple: numpy's searchsorted would copy the
    edges into an array on every request, a quarter of the request path's own time)."""
    return bisect_left(LATENCY_EDGES, latency_us / US)


def merge_all(partials: list[Partial]) -> Partial:
    merged = Partial()
    for partial in partials:
        merged = merged.merge(partial)
    return merged


class Windows:
    """The open windows of one process. `add` places each answered request; `close(now)` hands over
    the windows whose result became final. No clock of its own: callers pass the times."""

    def __init__(self, spec: WindowSpec, restored: dict[int, Partial] | None = None):
        self.spec = spec
        self.open: dict[int, Partial] = dict(restored or {})
        self.closed_until = 0  # windows final by then were handed over: never reopened

    def add(self, event: Event) -> None:
        start = self.spec.start_of(event.at_us)
        now = event.recorded_us
        final_at = self.spec.final_at(start)
        if now >= final_at or final_at <= self.closed_until:
            self._partial(self.spec.start_of(max(now, self.closed_until))).late_dropped += 1
        else:
            self._partial(start).add(event, late=now >= start + self.spec.width_us)

    def _partial(self, start: int) -> Partial:
        return self.open.setdefault(start, Partial())

    def close(self, now_us: int) -> dict[int, Partial]:
        """The windows final at `now_us`, removed from the open ones."""
        done = sorted(s for s in self.open if self.spec.final_at(s) <= now_us)
        self.closed_until = max(self.closed_until, now_us)
        return {s: self.open.pop(s) for s in done}


@dataclass(frozen=True)
class Reference:
    """Per monitored input: the reference shares and means of its bins (serving/reference.py)."""

    shares: dict[str, np.ndarray]
    means: dict[str, np.ndarray]


@dataclass(frozen=True)
class Thresholds:
    psi: float = 1.0  # SHELFCAST_SERVE_WINDOW_PSI
    min_rows: int = 300  # input values in a window below which no drift verdict is given
    epsilon: float = 1e-4


def latency_quantile(latency: Counter, q: float) -> float | None:
    """The upper edge of the bucket holding the nearest-rank q-quantile (seconds)."""
    total = sum(latency.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(q * total)), 0
    for bucket in sorted(latency):
        seen += latency[bucket]
        if seen >= rank:
            return LATENCY_EDGES[min(bucket, len(LATENCY_EDGES) - 1)]
    return None


def _traffic(p: Partial) -> list[tuple[str, str, float]]:
    total = sum(p.requests.values())
    errors = sum(n for key, n in p.requests.items() if int(key.rsplit(" ", 1)[1]) >= 500)
    rejected = sum(n for key, n in p.requests.items() if 400 <= int(key.rsplit(" ", 1)[1]) < 500)
    rows = [("requests_by_route", key, float(n)) for key, n in sorted(p.requests.items())]
    rows += [("requests", "", float(total)), ("errors", "", float(errors)), ("rejected", "", float(rejected))]
    rows += [("late_counted", "", float(p.late_counted)), ("late_dropped", "", float(p.late_dropped))]
    if total:
        rows.append(("error_rate", "", errors / total))
        rows += [(f"latency_p{round(q * 100)}", "", latency_quantile(p.latency, q)) for q in QUANTILES]
    rows += [("whatif_scored", "", float(p.scored)), ("outlier_requests", "", float(p.flagged))]
    if p.scored:
        rows.append(("outlier_share", "", p.flagged / p.scored))
    return rows


def _input_drift(name: str, counts: np.ndarray, ref: Reference, th: Thresholds) -> list[tuple]:
    share, means = ref.shares[name], ref.means[name]
    current = counts / counts.sum()
    cdf_gap = np.abs(np.cumsum(current) - np.cumsum(share))[:-1]
    std = math.sqrt(max(float(np.sum(share * (means - np.sum(share * means)) ** 2)), 0.0))
    wasserstein = float(np.sum(cdf_gap * np.diff(means))) / max(std, WASSERSTEIN_STD_FLOOR)
    psi = psi_from_counts(share, counts, th.epsilon)
    return [
        ("input_rows", name, float(counts.sum())),
        ("psi", name, psi),
        ("js_distance", name, float(jensenshannon(share, current))),
        ("wasserstein_norm", name, wasserstein),
        ("input_drifted", name, float(psi >= th.psi)),
    ]


def window_statistics(p: Partial, ref: Reference | None, th: Thresholds) -> list[tuple[str, str, float]]:
    """(statistic, label, value) rows of one window: traffic, latency, outliers and, with enough
    what-if input values, each input's drift and the window's verdict (`drift` 1: an input drifted)."""
    rows = _traffic(p)
    if ref is None:
        return rows
    drifted, decided = 0, 0
    for name in sorted(p.bins):
        counts = np.asarray(p.bins[name], dtype=np.float64)
        if name not in ref.shares or counts.size != ref.shares[name].size or counts.sum() < th.min_rows:
            continue
        found = _input_drift(name, counts, ref, th)
        rows += found
        decided += 1
        drifted += int(found[-1][2])
    if decided:
        rows += [("drifted_inputs", "", float(drifted)), ("drift", "", float(drifted > 0))]
    return rows
