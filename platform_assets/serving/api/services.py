"""What the routes share in one API process: the bundle store, key ring, rate limiters, request log,
metrics and window statistics, started and stopped with the app (a SIGTERM stops uvicorn gracefully,
which stops these last: the request log and the open windows are written out after the last
response)."""

import socket
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from platform_assets.config.api import ApiConfig
from platform_assets.monitoring.request_windows import Reference, Thresholds, WindowSpec
from platform_assets.serving.api.metrics import Metrics
from platform_assets.serving.api.store import BundleStore
from platform_assets.serving.keys import KeyRing
from platform_assets.serving.layout import request_spool_path, serving_root
from platform_assets.serving.live_windows import LiveWindows, process_name, reference_of
from platform_assets.serving.loaded import LoadedBundle
from platform_assets.serving.ratelimit import RateLimiter
from platform_assets.serving.requestlog import RequestLog
from platform_assets.serving.stores import key_store, request_store
from platform_assets.serving.windowstore import window_store


@dataclass
class Services:
    config: ApiConfig
    store: BundleStore
    ring: KeyRing
    limiter: RateLimiter
    failures: RateLimiter  # failed key checks per client address
    log: RequestLog
    metrics: Metrics
    windows: LiveWindows

    @classmethod
    def build(cls, config: ApiConfig) -> "Services":
        serving = config.serving
        metrics = Metrics()

        def swapped(bundle: LoadedBundle) -> None:
            created = datetime.fromisoformat(bundle.manifest["created_at"]).timestamp()
            metrics.served(bundle.generation, bundle.model_version, created)
            metrics.swaps.inc()

        log = RequestLog(request_store(config.home, config.pg_dsn), request_spool_path(config.home))
        metrics.log_pending.set_function(log.pending)
        store = BundleStore(serving_root(config.home), serving.serve_reload_seconds, on_swap=swapped)
        return cls(
            config=config,
            store=store,
            ring=KeyRing(
                key_store(config.home, config.pg_dsn, serving.serve_key_pepper), serving.serve_reload_seconds
            ),
            limiter=RateLimiter(serving.serve_rate_limit, serving.serve_rate_burst),
            failures=RateLimiter(serving.serve_auth_failure_rate, serving.serve_auth_failure_burst),
            log=log,
            metrics=metrics,
            windows=_live_windows(config, store, metrics),
        )

    def start(self) -> None:
        self.log.start()
        self.store.start()
        self.ring.start()
        self.windows.start()

    def stop(self) -> None:
        self.store.stop()
        self.ring.stop()
        self.log.close()
        self.windows.stop()


def replica_name(config: ApiConfig) -> str:
    """This process's name among the replicas writing the window store (live_windows.process_name)."""
    return process_name(config.serving.serve_replica or f"{socket.gethostname()}:{config.serving.serve_port}")


def _live_windows(config: ApiConfig, store: BundleStore, metrics: Metrics) -> LiveWindows:
    serving = config.serving

    def reference() -> Reference | None:
        bundle = store.current
        return None if bundle is None else reference_of(bundle.outlier_profiles.bins)

    spec = WindowSpec(serving.serve_window_seconds, serving.serve_window_lateness_seconds)
    return LiveWindows(
        window_store(config.home, config.pg_dsn, spec.width_us),
        spec,
        replica_name(config),
        Thresholds(psi=serving.serve_window_psi, min_rows=serving.serve_window_min_rows),
        reference,
        refresh=serving.serve_window_refresh_seconds,
        on_final=metrics.window_final,
    )


def services(request: Request) -> Services:
    return request.app.state.services


def bundle_for(request: Request) -> LoadedBundle:
    """The bundle this request uses from start to end (recorded for its request log row)."""
    bundle = services(request).store.require()
    request.state.bundle = bundle
    return bundle
