"""The API process's window statistics: every answered request, as its request log row, is added to the
open windows (monitoring/request_windows.py); a thread writes, every `refresh` seconds, the windows
that became final and the provisional partials of the open ones (windowstore.py), so the open window's
merged result is at most `refresh` old. On a graceful stop the open partials are written too and a
restart of the same replica restores them; a SIGKILL loses at most the last `refresh` of them.

A window is closed SETTLE after its end plus the lateness: a request answered just before that moment
is added a moment after it, and must still land in its window, as an offline recomputation from the
request log puts it (`event_from_row`)."""

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl

from platform_assets.monitoring.request_windows import (
    US,
    Event,
    Partial,
    Reference,
    Thresholds,
    Windows,
    WindowSpec,
    window_statistics,
)
from platform_assets.serving.reference import Bins
from platform_assets.serving.windowstore import WindowStore

log = logging.getLogger("shelfcast.serving")
SETTLE_US = 250_000
KEEP_US = 24 * 3600 * US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    """Exact integer microseconds since the epoch (no float rounding)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def event_from_row(row: dict) -> Event:
    """A request log row (requestlog.SCHEMA) as a window event: the live path and any recomputation
    from the log build events with this one function."""
    scores = json.loads(row["scores"]) if row.get("scores") else None
    return Event(
        at_us=micros(row["received_at"]),
        route=row["route"],
        method=row["method"],
        status=int(row["status"]),
        latency_us=round(row["latency_ms"] * 1000),
        scored=scores is not None,
        flagged=bool(scores and scores["flagged"]),
        bins=scores["bins"] if scores else None,
    )


def process_name(base: str) -> str:
    """A process's replica name: `base` (a pod, or host and port) and its pid, so the workers of one
    server keep partials of their own."""
    return f"{base}:{os.getpid()}"


def stopped(name: str) -> bool:
    """Whether the process a replica name ends with is gone (names of this host's processes)."""
    try:
        os.kill(int(name.rsplit(":", 1)[1]), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False


def reference_of(bins: dict[str, Bins]) -> Reference:
    return Reference({n: b.share for n, b in bins.items()}, {n: b.mean for n, b in bins.items()})


def recompute(log: pl.DataFrame, spec: WindowSpec) -> dict[int, Partial]:
    """Every window's partial from request log rows, as the live path would have built it."""
    windows = Windows(spec)
    for row in log.sort("received_at", "request_id").iter_rows(named=True):
        windows.add(event_from_row(row))
    return windows.open


class LiveWindows:
    def __init__(
        self,
        store: WindowStore,
        spec: WindowSpec,
        replica: str,
        thresholds: Thresholds,
        reference: Callable[[], Reference | None],
        refresh: float = 1.0,
        on_final: Callable[[int, list[tuple]], None] | None = None,
    ):
        self.spec, self.replica, self.thresholds, self.reference = spec, replica, thresholds, reference
        self.refresh, self.on_final = refresh, on_final
        self.store = store
        self.windows = Windows(spec, self.store.restore(replica, stopped))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, event: Event) -> None:
        with self._lock:
            self.windows.add(event)

    def statistics(self, partial: Partial) -> list[tuple[str, str, float | None]]:
        return window_statistics(partial, self.reference(), self.thresholds)

    def flush(self, now_us: int | None = None) -> None:
        """Write the windows final by now (then forget them) and the open ones' partials."""
        now = time.time_ns() // 1000 if now_us is None else now_us
        with self._lock:
            final = self.windows.close(now - SETTLE_US)
            provisional = {s: Partial.from_json(p.as_json()) for s, p in self.windows.open.items()}
        merged = self.store.write(self.replica, final, True, self.statistics, now)
        self.store.write(self.replica, provisional, False, self.statistics, now)
        if merged and self.on_final is not None:
            newest = max(merged)
            self.on_final(newest, merged[newest])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="request-windows", daemon=True)
        self._thread.start()

    def stop(self, now_us: int | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush(now_us)
        self.store.close()

    def _run(self) -> None:
        pruned = 0
        while not self._stop.wait(self.refresh):
            try:
                self.flush()
                if time.time() - pruned > 3600:
                    self.store.prune(time.time_ns() // 1000 - KEEP_US)
                    pruned = time.time()
            except Exception:  # the windows must never take the API down; the next tick retries
                log.exception("could not write the request windows")
