"""Live monitoring: a real `shelfcast serve` on 127.0.0.1 replays a bounded stream of lookups and
what-ifs with injected outliers (prices 3-5x a series' highest) and a drift that starts half-way
(every clean what-if then asks for its series' highest price seen over the whole horizon: no price
leaves the series' history, their distribution does); the API is restarted (SIGTERM, same
replica) mid-replay. Measured, from each request's send time (one clock: same host):
- outlier: until its answer, which carries the flag;
- window_stats / window_drift: until its window's final result (drift: a window with a verdict) is in
  the window table, polled every 0.2 s read-only; provisional: until the open window's result counts it;
- detection: injected outliers flagged, clean what-ifs flagged, windows from the drift's start to the
  first drifted one, drifted windows before it;
- exactness: the final window table against a recomputation from the request log; lost and
  double-counted requests (answered vs counted in windows).

The load generator shares the 2 cores with the server. `--requests` bounds the count, `--seconds` the
time of each phase.
"""

import argparse
import asyncio
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from bench import common
from bench.common import Server, build_home, percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "live_monitoring.json"
START, END = common.markers("live_monitoring")
WHAT_IF_SHARE, OUTLIER_SHARE = 0.08, 0.05  # of requests; of what-ifs
LABELS = (("outlier", "outlier flag (in the answer)"), ("provisional", "open window, provisional"),
          ("window_stats", "window statistics, final"), ("window_drift", "window drift, final"))  # fmt: skip
PUBLISHED = {"outlier": 5.9, "window_stats": 29.92, "window_drift": 30.86}  # p75 s, 7-node Spark


class Catalog:
    """The served series with what a clean, a drifted and an outlying what-if asks of each."""

    def __init__(self, home: Path):
        from platform_assets.serving.bundle import current_generation, read_bundle

        content = read_bundle(home / "serving", current_generation(home / "serving"))
        plan = content.frames["inference"].select("product_id", "store_id", "period_date", "price")
        profile = content.frames["series_profile"].select(
            "product_id", "store_id", "price_min", "price_max", "promo_share"
        )
        model = (
            content.frames["forecasts"].filter(pl.col("method") == "model").select("product_id", "store_id")
        )
        rows = plan.join(profile, on=["product_id", "store_id"]).join(
            model.unique(), on=["product_id", "store_id"]
        )
        self.series = rows.select("product_id", "store_id", "price_min", "price_max", "promo_share").unique(
            maintain_order=True
        ).sort("product_id", "store_id").rows()  # fmt: skip
        self.plan = {(p, s, d.isoformat()): price for p, s, d, price in plan.rows()}
        self.dates = content.manifest["features"]["target_dates"]

    def what_if(self, rng: random.Random, kind: str) -> dict:
        product, store, low, high, promo_share = rng.choice(self.series)
        if kind == "drifted":  # the highest price seen, over the whole horizon
            return {"scenarios": [{"product_id": product, "store_id": store, "changes": [{"price": high}]}]}
        changes = []
        for day in rng.sample(self.dates, 2):
            planned = self.plan.get((product, store, day)) or high
            if kind == "outlier":
                change = {"target_date": day, "price": round(high * rng.uniform(3, 5), 2)}
            else:
                price = min(max(planned * (1 + rng.uniform(-0.08, 0.08)), low), high)
                change = {"target_date": day, "price": round(price, 2)}
            changes.append(change)
        return {"scenarios": [{"product_id": product, "store_id": store, "changes": changes}]}


class Poller:
    """Reads the window table every 0.2 s: per window, when it was first final, first had a drift
    verdict, and each provisional request count with when it was seen."""

    def __init__(self, path: Path):
        self.path, self.final, self.drift, self.counts = path, {}, {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from platform_assets.serving.windowstore import read_windows

        while not self._stop.wait(0.2):
            seen = time.time()
            try:
                rows = read_windows(self.path, datetime.now(UTC) - timedelta(minutes=2))
            except Exception:  # the store is created by the first flush; busy while written
                continue
            totals = rows.filter(pl.col("statistic") == "requests", pl.col("label") == "")
            for start, value, final in totals.select("window_start", "value", "final").iter_rows():
                self.counts.setdefault(start, []).append((seen, value))
                if final:
                    self.final.setdefault(start, seen)
            for start, final in (
                rows.filter(pl.col("statistic") == "drift").select("window_start", "final").rows()
            ):
                if final:
                    self.drift.setdefault(start, seen)

    def stop(self) -> None:
        time.sleep(0.5)
        self._stop.set()
        self._thread.join()


async def replay(
    url: str, key: str, catalog: Catalog, plan: list[str], concurrency: int, seconds: float
) -> list[dict]:
    """Send `plan` (kinds in order) from `concurrency` connections; one record per answered request."""
    import aiohttp

    headers, records, position = {"Authorization": f"Bearer {key}"}, [], [0]
    stop_at = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession, rng: random.Random) -> None:
        while position[0] < len(plan) and time.monotonic() < stop_at:
            kind = plan[position[0]]
            position[0] += 1
            if kind == "lookup":
                product, store, *_ = rng.choice(catalog.series)
                request = session.get(
                    f"{url}/v1/forecasts", params={"product_id": product, "store_id": store}
                )
            else:
                request = session.post(f"{url}/v1/what-if", json=catalog.what_if(rng, kind))
            sent = time.time()
            async with request as response:
                body = await response.json() if kind != "lookup" and response.status == 200 else None
            flagged = None if body is None else any(s["warnings"] for s in body["series"])
            records.append({"kind": kind, "sent": sent, "answered": time.time(), "status": response.status,
                            "id": response.headers.get("x-request-id"), "flagged": flagged,
                            "concurrency": concurrency})  # fmt: skip

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        await asyncio.gather(*(worker(session, random.Random(i)) for i in range(concurrency)))
    return records


def request_plan(n: int, seed: int) -> list[str]:
    """Kinds of `n` requests: lookups and what-ifs, outliers among the what-ifs, drifted from n/2 on."""
    rng = random.Random(seed)
    kinds = []
    for i in range(n):
        if rng.random() >= WHAT_IF_SHARE:
            kinds.append("lookup")
        elif rng.random() < OUTLIER_SHARE:
            kinds.append("outlier")
        else:
            kinds.append("drifted" if i >= n // 2 else "clean")
    return kinds


def quantiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p75": None, "p95": None}
    return {f"p{q}": round(percentile(values, q / 100), 3) for q in (50, 75, 95)}


def exactness(home: Path, records: list[dict]) -> dict:
    """The final windows against a recomputation from the request log; requests lost or counted twice."""
    from platform_assets.config.sections import ServingSettings
    from platform_assets.monitoring.request_windows import Thresholds, WindowSpec, window_statistics
    from platform_assets.serving.bundle import current_generation
    from platform_assets.serving.live_windows import recompute, reference_of
    from platform_assets.serving.loaded import load_bundle
    from platform_assets.serving.requestlog import SqliteRequestStore
    from platform_assets.serving.windowstore import read_windows

    now = datetime.now(UTC)
    log = SqliteRequestStore(home / "serving" / "requests.sqlite").read(now - timedelta(days=1), now)
    bundle = load_bundle(home / "serving", current_generation(home / "serving"))
    serving = ServingSettings()  # the server ran with the defaults
    reference = reference_of(bundle.outlier_profiles.bins)
    thresholds = Thresholds(serving.serve_window_psi, serving.serve_window_min_rows)
    offline = {
        s: window_statistics(p, reference, thresholds) for s, p in recompute(log, WindowSpec()).items()
    }
    table = read_windows(home / "serving" / "windows.sqlite")
    mismatched = 0
    for (start,), rows in table.group_by("window_start"):
        key = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        live = sorted(rows.select("statistic", "label", "value").rows())
        mismatched += live != sorted(offline.get(key, []))
    counted = table.filter(
        (pl.col("statistic") == "late_dropped")
        | ((pl.col("statistic") == "requests") & (pl.col("label") == ""))
    )["value"].sum()
    answered = {r["id"] for r in records}
    logged = set(log["request_id"].to_list())  # the replay's requests and the readiness probes
    return {"windows": table["window_start"].n_unique(), "windows_differing_from_log": mismatched,
            "log_rows": log.height, "counted": int(counted), "answered": len(answered),
            "lost_requests": len(answered - logged) + max(0, log.height - int(counted)),
            "double_counted": max(0, int(counted) - log.height)}  # fmt: skip


def window_of(at: float) -> datetime:
    return datetime.fromtimestamp(at - at % 15, UTC)


def delays(records: list[dict], poller: Poller, log: pl.DataFrame, restart: tuple[float, float]) -> dict:
    """Per request: answer, final window, drift verdict and provisional count, from its send time;
    overall, per concurrency, and for the windows the restart (`restart`: stopped, ready again) held
    back."""
    received = {r: t.timestamp() for r, t in log.select("request_id", "received_at").rows()}
    recorded = {
        r: t.timestamp() + ms / 1000
        for r, t, ms in log.select("request_id", "received_at", "latency_ms").rows()
    }
    by_window: dict[datetime, list[str]] = {}
    for request_id in sorted(recorded, key=recorded.get):
        by_window.setdefault(window_of(received[request_id]), []).append(request_id)
    rank = {r: i + 1 for ids in by_window.values() for i, r in enumerate(ids)}
    kinds = ("outlier", "window_stats", "window_drift", "provisional")
    groups: dict[str, dict[str, list[float]]] = {}
    for r in records:
        if r["id"] not in received:
            continue
        window = window_of(received[r["id"]])
        held = window.timestamp() <= restart[1] and window.timestamp() + 15 + 6 >= restart[0]
        group = "across_restart" if held else "steady"
        out = groups.setdefault(group, {k: [] for k in kinds})
        level = groups.setdefault(f"concurrency_{r['concurrency']}", {k: [] for k in kinds})
        found = {}
        if r["kind"] != "lookup":
            found["outlier"] = r["answered"] - r["sent"]
        if window in poller.final:
            found["window_stats"] = poller.final[window] - r["sent"]
        if window in poller.drift:
            found["window_drift"] = poller.drift[window] - r["sent"]
        seen = next((t for t, count in poller.counts.get(window, []) if count >= rank[r["id"]]), None)
        if seen is not None:
            found["provisional"] = max(seen - r["sent"], 0.0)
        for kind, delay in found.items():
            out[kind].append(delay)
            if not held:
                level[kind].append(delay)
    steady = groups.pop("steady", {k: [] for k in kinds})
    others = {g: {k: quantiles(v) for k, v in d.items() if v} for g, d in sorted(groups.items())}
    return {**{k: quantiles(v) for k, v in steady.items()}, **others}


def detection(records: list[dict], home: Path, drift_from: float) -> dict:
    from platform_assets.serving.windowstore import read_windows

    what_ifs = [r for r in records if r["kind"] != "lookup" and r["status"] == 200]
    outliers = [r["flagged"] for r in what_ifs if r["kind"] == "outlier"]
    clean = [r["flagged"] for r in what_ifs if r["kind"] == "clean"]
    drifted = [r["flagged"] for r in what_ifs if r["kind"] == "drifted"]
    verdicts = read_windows(home / "serving" / "windows.sqlite").filter(
        pl.col("statistic") == "drift", pl.col("final")
    )
    starts = verdicts.select("window_start", "value").sort("window_start").rows()
    drift_start = window_of(drift_from)
    after = [(s, v) for s, v in starts if s >= drift_start]
    first = next((i for i, (_, v) in enumerate(after) if v >= 1), None)
    before = [v for s, v in starts if s < drift_start]
    return {
        "outliers_flagged_share": round(sum(outliers) / len(outliers), 4) if outliers else None,
        "false_flag_share": round(sum(clean) / len(clean), 4) if clean else None,
        "drifted_flagged_share": round(sum(drifted) / len(drifted), 4) if drifted else None,
        "drift_windows_to_detect": None if first is None else first + 1,
        "false_drift_windows": int(sum(v >= 1 for v in before)), "clean_windows_judged": len(before),
        "drifted_windows_after_start": int(sum(v >= 1 for _, v in after)),
        "windows_judged_after_start": len(after),
    }  # fmt: skip


def run(home: Path, key: str, n: int, levels: list[int], seconds: float) -> dict:
    from platform_assets.serving.requestlog import SqliteRequestStore

    catalog, plan = Catalog(home), request_plan(n, 7)
    extra = {"SHELFCAST_SERVE_REPLICA": "bench-0"}
    poller = Poller(home / "serving" / "windows.sqlite")
    records, server, drift_from, restart = [], Server(home, extra=extra), None, (0.0, 0.0)
    chunk = -(-n // len(levels))
    for i, concurrency in enumerate(levels):
        part = plan[i * chunk : (i + 1) * chunk]
        if i * chunk <= n // 2 < (i + 1) * chunk:
            drift_from = time.time()  # approximately: refined from the records below
        if i == len(levels) // 2:  # an API restart mid-replay: SIGTERM, the same replica comes back
            restart = (time.time(), 0.0)
            server.stop(signal.SIGTERM)
            server = Server(home, extra=extra)
            restart = (restart[0], time.time())
        got = asyncio.run(replay(server.url, key, catalog, part, concurrency, seconds))
        records += got
        wall = max(r["answered"] for r in got) - min(r["sent"] for r in got)
        print(
            {"concurrency": concurrency, "requests": len(got), "rps": round(len(got) / wall, 1)}, flush=True
        )
    time.sleep(23)  # the last window's end + lateness + a refresh
    server.stop(signal.SIGTERM)
    poller.stop()
    drifted = [r["sent"] for r in records if r["kind"] == "drifted"]
    drift_from = min(drifted) if drifted else drift_from
    now = datetime.now(UTC)
    log = SqliteRequestStore(home / "serving" / "requests.sqlite").read(now - timedelta(days=1), now)
    return {
        "requests": len(records),
        "by_kind": {
            k: sum(r["kind"] == k for r in records) for k in ("lookup", "clean", "drifted", "outlier")
        },
        "errors": sum(r["status"] >= 400 for r in records),
        "delay_seconds": delays(records, poller, log, restart),
        "restart_seconds": round(restart[1] - restart[0], 1),
        **detection(records, home, drift_from),
        **exactness(home, records),
    }


def section(results: dict) -> str:
    d = results["delay_seconds"]
    levels = [f"concurrency_{c}" for c in results["levels"]]
    rows = "\n".join(
        f"| {label} | {d[k]['p50']} | {d[k]['p75']} | {d[k]['p95']} | "
        + " | ".join(str(d.get(g, {}).get(k, {}).get("p75", "-")) for g in [*levels, "across_restart"])
        + f" | {PUBLISHED.get(k, '')} |"
        for k, label in LABELS
    )
    head = " | ".join(f"p75 at {c}" for c in results["levels"])
    r = results
    levels_text = ", ".join(map(str, results["levels"]))
    kinds_text = ", ".join(f"{v} {k}" for k, v in results["by_kind"].items())
    return f"""{START}
## Live monitoring of served requests

Generated by `{results["command"]}` on {results["date"]} (raw numbers:
`bench/results/live_monitoring.json`). Machine: {results["machine"]}; other jobs were running
(load average {results["load_average"]} before the run). One `shelfcast serve` process (15 s
windows, 6 s lateness, partials written every second) over the default synthetic feed's bundle;
{results["requests"]} requests (of {results["requests_planned"]} planned: each level stops after
{results["seconds_per_level"]:g} s) from a closed-loop aiohttp client on the same 2 cores at concurrency
{levels_text} ({kinds_text}), an API restart (SIGTERM, same replica) between levels. Delay from a
request's send time to its result, in seconds, beside the published Spark Structured Streaming
design (250,000 requests, 7 nodes, p75). p50 / p75 / p95 and the levels' columns leave out the
windows the restart held back (stopped to ready again: {results["restart_seconds"]} s), shown in
their own column:

| result | p50 | p75 | p95 | {head} | p75, windows across the restart | published p75 |
|---|---:|---:|---:|{"---:|" * len(levels)}---:|---:|
{rows}

Detection: {r["outliers_flagged_share"]:.1%} of injected outliers flagged,
{r["false_flag_share"]:.2%} of clean what-ifs flagged ({r["drifted_flagged_share"]:.1%} of the
drifted ones); the drift (from half-way) was flagged by window {r["drift_windows_to_detect"]} counted
from the one it started in, and in {r["drifted_windows_after_start"]} of the
{r["windows_judged_after_start"]} windows judged after;
{r["false_drift_windows"]} drifted verdicts on {r["clean_windows_judged"]} clean windows.
Exactness: {r["windows_differing_from_log"]} of {r["windows"]} windows differ from a recomputation
from the request log; {r["lost_requests"]} requests lost, {r["double_counted"]} counted twice
({r["counted"]} counted, {r["log_rows"]} logged, {r["answered"]} answered) across the restart.
{END}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="a SHELFCAST_HOME with a serving bundle (make demo)")
    parser.add_argument("--requests", type=int, default=250_000)
    parser.add_argument("--levels", default="10,50")
    parser.add_argument("--seconds", type=float, default=900.0, help="at most this long per level")
    parser.add_argument("--quick", action="store_true", help="20,000 requests, at most 120 s per level")
    args = parser.parse_args()
    n, seconds = (20_000, 120.0) if args.quick else (args.requests, args.seconds)
    levels = [int(x) for x in args.levels.split(",")]
    load_average = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="live-bench-") as scratch:
        home = Path(scratch)
        if args.home:  # its bundle only: the replay's request log and windows start empty
            generation = (args.home / "serving" / "current").read_text().strip()
            shutil.copytree(args.home / "serving" / generation, home / "serving" / generation)
            shutil.copy(args.home / "serving" / "current", home / "serving" / "current")
        else:
            print(f"building a bundle in {home} (full_refresh of the synthetic feed)", flush=True)
            build_home(home)
        from platform_assets.serving.keys import SqliteKeyStore

        _, key = SqliteKeyStore(home / "serving" / "keys.sqlite").create("live-bench", "what-if")
        results = run(home, key, n, levels, seconds)
    results |= {
        "date": datetime.now(UTC).date().isoformat(), "load_average": load_average, "levels": levels,
        "requests_planned": n, "seconds_per_level": seconds,
        "command": common.command(__file__).replace(str(args.home), "HOME"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }  # fmt: skip
    print({k: v for k, v in results.items() if k != "machine"}, flush=True)
    common.publish(RESULTS, START, END, results, section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
