"""Live monitoring of served requests: event-time windows (lateness, exact merge of replicas, restarts,
drift verdicts) on the real SQLite window store, and over the real API: an outlier flagged in the
response and the request log, and two replicas whose merged windows equal a recomputation from the
request log."""

import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient

from platform_assets.config.api import ApiConfig
from platform_assets.config.sections import ServingSettings
from platform_assets.defs.live import request_drift_sensor
from platform_assets.monitoring.request_alerts import AlertRules, request_alert
from platform_assets.monitoring.request_windows import (
    US,
    Event,
    Reference,
    Thresholds,
    Windows,
    WindowSpec,
    window_statistics,
)
from platform_assets.serving.api.app import create_app
from platform_assets.serving.bundle import current_generation
from platform_assets.serving.keys import SqliteKeyStore
from platform_assets.serving.layout import CURRENT, keys_path, requests_path, serving_root, windows_path
from platform_assets.serving.live_windows import LiveWindows, recompute, reference_of
from platform_assets.serving.loaded import load_bundle
from platform_assets.serving.requestlog import SqliteRequestStore
from platform_assets.serving.windowstore import WindowStore, read_windows
from tests.support.graph import ServedGraph, shelfcast_graph

SPEC = WindowSpec(seconds=15, lateness=6)
T0 = 1_800_000_000 * US  # a window start (a multiple of 15 s)
BINS = 10
REFERENCE = Reference(
    {f: np.full(BINS, 1 / BINS) for f in ("a", "b")}, {f: np.arange(BINS, dtype=float) for f in ("a", "b")}
)
THRESHOLDS = Thresholds(psi=0.25, min_rows=100)


def event(at: float, latency: float = 0.01, status: int = 200, bins: dict | None = None) -> Event:
    route = "/v1/what-if" if bins else "/v1/forecasts"
    return Event(T0 + round(at * US), route, "POST" if bins else "GET", status, round(latency * US),
                 scored=bins is not None, flagged=bool(bins and bins.get("flag")),
                 bins={k: v for k, v in (bins or {}).items() if k != "flag"} or None)  # fmt: skip


def what_ifs(rng: np.random.Generator, n: int, start: float, drifted: bool) -> list[Event]:
    """`n` what-if requests of 5 rows each from `start` on, inputs drawn from the reference (uniform over
    the bins), or pushed to its top bins when `drifted`."""
    p = np.r_[np.full(7, 0.02), np.full(3, 0.86 / 3)] if drifted else np.full(BINS, 1 / BINS)
    out = []
    for i in range(n):
        counts = {f: np.bincount(rng.choice(BINS, 5, p=p), minlength=BINS).tolist() for f in ("a", "b")}
        out.append(event(start + i * 0.3, 0.05, bins={**counts, "flag": i % 10 == 0}))
    return out


def stats(rows: list[tuple]) -> dict[tuple[str, str], float]:
    return {(name, label): value for name, label, value in rows}


def test_late_request_counted_within_lateness_and_accounted_after():
    windows = Windows(SPEC)
    windows.add(event(1.0))
    windows.add(event(14.0, latency=5.0))  # answered 4 s after the window's end: within the lateness
    windows.add(event(2.0, latency=20.0))  # answered 7 s after it: too late, accounted where it lands
    windows.add(event(16.0))
    assert windows.close(T0 + 20 * US) == {}  # not final before end + lateness
    [(start, first)] = windows.close(T0 + 21 * US).items()
    assert start == T0
    first_stats = stats(window_statistics(first, None, THRESHOLDS))
    assert first_stats[("requests", "")] == 2 and first_stats[("late_counted", "")] == 1
    assert first_stats[("late_dropped", "")] == 0
    second = stats(window_statistics(windows.open[T0 + 15 * US], None, THRESHOLDS))
    assert second[("requests", "")] == 1 and second[("late_dropped", "")] == 1
    # once a window was handed over, a request for it never reopens it
    windows.add(event(3.0, latency=0.0))
    assert T0 not in windows.open and windows.open[T0 + 15 * US].late_dropped == 2


def test_a_drifted_window_is_flagged_and_a_clean_one_is_not():
    rng = np.random.default_rng(7)
    windows = Windows(SPEC)
    for e in what_ifs(rng, 40, 0.0, drifted=False) + what_ifs(rng, 40, 15.0, drifted=True):
        windows.add(e)
    clean, drifted = (
        stats(window_statistics(p, REFERENCE, THRESHOLDS)) for p in windows.close(T0 + 60 * US).values()
    )
    assert clean[("drift", "")] == 0 and clean[("input_rows", "a")] == 200
    assert clean[("psi", "a")] < 0.1 and clean[("outlier_share", "")] == pytest.approx(0.1)
    assert drifted[("drift", "")] == 1 and drifted[("drifted_inputs", "")] == 2
    assert drifted[("psi", "a")] > 1 and drifted[("wasserstein_norm", "a")] > clean[("wasserstein_norm", "a")]
    assert drifted[("js_distance", "a")] > clean[("js_distance", "a")]
    few = Windows(SPEC)
    for e in what_ifs(rng, 10, 0.0, drifted=True):  # 50 values: too few to judge
        few.add(e)
    assert ("drift", "") not in stats(window_statistics(few.open[T0], REFERENCE, THRESHOLDS))


def live(path: Path, replica: str) -> LiveWindows:
    return LiveWindows(WindowStore.sqlite(path, SPEC.width_us), SPEC, replica, THRESHOLDS, lambda: REFERENCE)


def table(path: Path) -> pl.DataFrame:
    return read_windows(path).drop("updated_at", "replicas").sort("window_start", "statistic", "label")


def replay(events: list[Event], replicas: list[LiveWindows], finish: bool = True) -> int:
    """Events in order of their answer, spread over the replicas round-robin, every replica flushing
    each second on the same clock; then (`finish`) every window made final. Returns the clock."""
    ordered = sorted(events, key=lambda e: e.recorded_us)
    clock = T0
    for i, e in enumerate(ordered):
        while clock + US <= e.recorded_us:
            clock += US
            for r in replicas:
                r.flush(clock)
        replicas[i % len(replicas)].record(e)
    for r in replicas if finish else []:
        r.flush(clock + 120 * US)
    return clock


def traffic(seed: int) -> list[Event]:
    rng = np.random.default_rng(seed)
    lookups = [event(float(t), float(rng.exponential(0.02)), int(rng.choice([200, 200, 200, 404, 500])))
               for t in np.sort(rng.uniform(0, 45, 300))]  # fmt: skip
    late = [event(29.5, 4.0), event(44.0, 9.0)]  # counted late; dropped and accounted
    return lookups + what_ifs(rng, 60, 1.0, False) + what_ifs(rng, 60, 20.0, True) + late


def test_two_replicas_give_the_same_windows_as_one(tmp_path):
    events = traffic(3)
    one = live(tmp_path / "one.sqlite", "solo")
    replay(events, [one])
    two = [live(tmp_path / "two.sqlite", name) for name in ("a", "b")]
    replay(events, two)
    expected, merged = table(tmp_path / "one.sqlite"), table(tmp_path / "two.sqlite")
    assert merged.equals(expected) and merged["final"].all()
    windows = merged.filter(pl.col("statistic") == "requests", pl.col("label") == "")["value"].to_list()
    dropped = merged.filter(pl.col("statistic") == "late_dropped")["value"].sum()
    assert sum(windows) + dropped == len(events) and dropped == 1
    offline = {
        s: stats(window_statistics(p, REFERENCE, THRESHOLDS)) for s, p in recompute_events(events).items()
    }
    assert by_window(merged) == offline


def by_window(table: pl.DataFrame) -> dict[int, dict[tuple[str, str], float]]:
    """Window start (us) -> {(statistic, label): value} of a window table."""
    out = {}
    for (start,), rows in table.group_by("window_start"):
        key = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        out[key] = {(n, lab): v for n, lab, v in rows.select("statistic", "label", "value").iter_rows()}
    return out


def recompute_events(events: list[Event]) -> dict:
    windows = Windows(SPEC)
    for e in events:
        windows.add(e)
    return windows.open


def test_no_double_count_after_a_restart(tmp_path):
    path, events = tmp_path / "w.sqlite", sorted(traffic(5), key=lambda e: e.recorded_us)
    first_half = [e for e in events if e.recorded_us < T0 + 20 * US]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process of this replica that has stopped
    before = live(path, f"api-0:{gone.pid}")
    clock = replay(first_half[:-1], [before], finish=False)  # flushed as the clock went
    before.record(first_half[-1])
    before.stop(clock)  # graceful: the open windows' partials are written, not final
    after = live(path, f"api-0:{os.getpid()}")  # the replica restarts and takes its partials over
    assert sum(sum(p.requests.values()) + p.late_dropped for p in after.windows.open.values()) > 0
    replay([e for e in events if e.recorded_us >= T0 + 20 * US], [after])
    again = live(path, f"api-0:{os.getpid()}")  # a restart once every window is final restores nothing
    assert again.windows.open == {}
    again.flush(T0 + 200 * US)
    merged = table(path)
    total = merged.filter(pl.col("statistic") == "requests", pl.col("label") == "")["value"].sum()
    assert total + merged.filter(pl.col("statistic") == "late_dropped")["value"].sum() == len(events)
    one = tmp_path / "one.sqlite"
    replay(events, [live(one, "solo")])
    assert merged.equals(table(one))


def test_replicas_merge_in_postgres_as_in_sqlite(pg_dsn, tmp_path):
    """Two replicas writing the Postgres store (the Kubernetes layout) give the table one process
    writes to SQLite."""
    events = traffic(9)
    replay(events, [live(tmp_path / "one.sqlite", "solo")])
    stores = [WindowStore.postgres(pg_dsn, SPEC.width_us) for _ in range(2)]
    replay(
        events,
        [
            LiveWindows(s, SPEC, name, THRESHOLDS, lambda: REFERENCE)
            for s, name in zip(stores, "ab", strict=True)
        ],
    )
    since = datetime.fromtimestamp(T0 / US, UTC)
    merged = stores[0].read(since).drop("updated_at", "replicas").sort("window_start", "statistic", "label")
    assert merged.equals(table(tmp_path / "one.sqlite")) and merged.height > 0
    for store in stores:
        store.close()


# --- over the real API ---


def copy_served(served: ServedGraph, home: Path) -> str:
    """A fresh home serving the graph's bundle (its own request log and windows), and an admin key."""
    root, generation = serving_root(served.home), current_generation(serving_root(served.home))
    shutil.copytree(root / generation, serving_root(home) / generation)
    shutil.copy(root / CURRENT, serving_root(home) / CURRENT)
    return SqliteKeyStore(keys_path(home)).create("live", "admin")[1]


def client(home: Path, replica: str) -> TestClient:
    settings = ServingSettings(
        serve_reload_seconds=0.2, serve_rate_limit=0, serve_replica=replica, serve_window_seconds=1.0,
        serve_window_lateness_seconds=3.0, serve_window_refresh_seconds=0.2, serve_window_min_rows=5,
    )  # fmt: skip
    return TestClient(create_app(ApiConfig(home=home.resolve(), serving=settings)))


def test_outliers_in_the_response_and_two_replicas_merge_exactly(served_graph, tmp_path):
    key = copy_served(served_graph, tmp_path)
    headers = {"X-API-Key": key}
    far = {"scenarios": [{"product_id": "P0001", "store_id": "S01", "changes": [{"price_change_pct": 300}]}]}
    mild = {"scenarios": [{"product_id": "P0002", "store_id": "S01", "changes": [{"price_change_pct": -5}]}]}
    started = time.time()
    with client(tmp_path, "a") as a, client(tmp_path, "b") as b:
        a.post("/v1/what-if", json=mild, headers=headers)  # warm: a slow first answer could come too late
        flagged = a.post("/v1/what-if", json=far, headers=headers)
        [series] = flagged.json()["series"]
        assert any(
            "4.0x this series' highest seen" in w or "x this series' highest seen" in w
            for w in series["warnings"]
        )
        sent = 2
        while time.time() - started < 2.5:
            for api in (a, b):
                api.get("/v1/forecasts", params={"product_id": "P0003"}, headers=headers)
                api.post("/v1/what-if", json=mild, headers=headers)
                api.get("/v1/forecasts", params={"product_id": "NOPE"}, headers=headers)
                sent += 3
        time.sleep(4.7)  # every window final: end + lateness + settle + a refresh
        monitoring = b.get("/v1/monitoring", headers=headers, params={"provisional": False}).json()
    spec = WindowSpec(1.0, 3.0)
    log = SqliteRequestStore(requests_path(tmp_path)).read(datetime.now(UTC) - timedelta(hours=1))
    assert log.height == sent + 1  # the monitoring request itself is logged too
    scores = log.filter(pl.col("request_id") == flagged.headers["x-request-id"])["scores"].str.json_decode()
    assert scores[0]["flagged"] and scores[0]["kinds"]["price_above_history"] == 7
    stored = read_windows(windows_path(tmp_path))
    windows = stored.filter(pl.col("final"))  # the last one stays open when the apps stop
    assert stored.filter(~pl.col("final"))["window_start"].n_unique() <= 1
    assert set(windows["replicas"].to_list()) <= {1, 2} and 2 in windows["replicas"]
    reference = reference_of(
        load_bundle(serving_root(tmp_path), current_generation(serving_root(tmp_path))).outlier_profiles.bins
    )
    thresholds = Thresholds(psi=ServingSettings().serve_window_psi, min_rows=5)
    offline = {
        start: stats(window_statistics(p, reference, thresholds)) for start, p in recompute(log, spec).items()
    }
    live_rows = by_window(windows)
    assert live_rows and live_rows == {s: v for s, v in offline.items() if s in live_rows}
    assert sum(v[("requests", "")] for v in live_rows.values()) >= sent - 3
    outliers = sum(v[("outlier_requests", "")] for v in live_rows.values())
    assert outliers >= 1 and len(monitoring["windows"]) >= 2
    assert all(w["final"] for w in monitoring["windows"])


def test_alert_needs_sustained_drift_or_errors(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "w.sqlite"
    events = what_ifs(rng, 40, 0.0, False) + what_ifs(rng, 40, 15.0, True) + what_ifs(rng, 40, 30.0, True)
    replay(events, [live(path, "solo")])
    rules = AlertRules(sustained=3, error_rate=0.05)
    assert not request_alert(read_windows(path), rules).alarm  # two drifted windows after a clean one
    replay(what_ifs(rng, 40, 45.0, True), [live(path, "solo")])
    alert = request_alert(read_windows(path), rules)
    assert alert.drift and not alert.errors and "drifted in the last 3 windows" in alert.summary
    failing = tmp_path / "errors.sqlite"
    replay([event(t / 4, status=500 if t % 5 == 0 else 200) for t in range(180)], [live(failing, "solo")])
    spike = request_alert(read_windows(failing), rules)
    assert spike.errors and not spike.drift and spike.table.height == 3


def test_request_drift_check_warns_and_the_windows_load(served_graph):
    """Three drifted windows, dated ahead of anything else in the graph's window store (the serving
    tests write theirs at the wall clock), loaded for their day; the check warns."""
    start = (time.time_ns() // 1000 // (15 * US) + 40) * 15 * US
    rng = np.random.default_rng(5)
    drifted = [e for t in (0.0, 15.0, 30.0) for e in what_ifs(rng, 40, t, True)]
    events = [replace(e, at_us=e.at_us - T0 + start) for e in drifted]
    store = live(windows_path(served_graph.home), "check-test")
    for e in events:
        store.record(e)
    store.flush(start + 120 * US)
    day = datetime.fromtimestamp(start / US, UTC).date().isoformat()
    with shelfcast_graph(served_graph.home, served_graph.instance, **served_graph.env) as g:
        resources = {"config": g.config, "warehouse": g.warehouse}
        sensing = dg.build_sensor_context(instance=served_graph.instance, resources=resources)
        request = request_drift_sensor(sensing)
        assert isinstance(request, dg.RunRequest) and request.partition_key == day
        again = dg.build_sensor_context(
            instance=served_graph.instance, cursor=sensing.cursor, resources=resources
        )
        assert "already reported" in request_drift_sensor(again).skip_message  # once per newest window
        for _ in range(2):  # idempotent: a re-run replaces the day
            result = g.run("request_windows_job", partition_key=day)
            assert result.success
            [check] = result.get_asset_check_evaluations()
            assert check.check_name == "request_drift" and not check.passed
            assert check.severity.value == "WARN" and "drifted in the last 3 windows" in check.description
            loaded = g.warehouse.query(
                "select count(distinct window_start) as n from monitoring.request_windows"
                " where window_start >= ? and statistic = 'drift'",
                [datetime.fromtimestamp(start / US, UTC)],
            )
            assert loaded.item() == 3
