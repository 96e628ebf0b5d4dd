"""Serving: a real `shelfcast serve` process on 127.0.0.1 under a bounded async load (aiohttp), lookups
and what-ifs at several concurrencies; latency percentiles, throughput, errors, the server's CPU and
RSS, and whether the request log holds every request sent (after a SIGTERM), plus what a SIGKILL loses.

The bundle comes from a graph run on the synthetic feed (`--home`: one `make demo` made; default: a
fresh home built here). The load generator shares the 2 cores with the server, so the numbers are
lower bounds of what the server alone would do. Not done here: the `mlflow models serve` peer.
"""

import argparse
import asyncio
import os
import platform
import random
import signal
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import common
from bench.common import Server, build_home, percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "serving.json"
START, END = "<!-- serving:start -->", "<!-- serving:end -->"


async def load(url: str, key: str, kind: str, series: list, dates: list, concurrency: int,
               requests: int, seconds: float) -> dict:  # fmt: skip
    """`requests` requests (or `seconds`, whichever ends first) from `concurrency` keep-alive
    connections (aiohttp: httpx's async client became the bottleneck above ~10 connections)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"}
    latencies, statuses, ids = [], [], []
    sent = [0]
    stop_at = time.monotonic() + seconds

    async def call(session: aiohttp.ClientSession, rng: random.Random) -> None:
        product, store = rng.choice(series)
        if kind == "lookup":
            request = session.get(f"{url}/v1/forecasts", params={"product_id": product, "store_id": store})
        else:
            change = {"target_date": rng.choice(dates), "price_change_pct": -20, "on_promo": True}
            body = {"scenarios": [{"product_id": product, "store_id": store, "changes": [change]}]}
            request = session.post(f"{url}/v1/what-if", json=body)
        began = time.perf_counter()
        async with request as response:
            await response.read()
        latencies.append(time.perf_counter() - began)
        statuses.append(response.status)
        ids.append(response.headers.get("x-request-id"))

    async def worker(session: aiohttp.ClientSession, rng: random.Random) -> None:
        while sent[0] < requests and time.monotonic() < stop_at:
            sent[0] += 1
            await call(session, rng)

    began = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session, random.Random(i)) for i in range(concurrency)))
    wall = time.perf_counter() - began
    return {
        "kind": kind, "concurrency": concurrency, "requests": len(statuses), "seconds": round(wall, 2),
        "rps": round(len(statuses) / wall, 1),
        **{f"p{q}_ms": round(percentile(latencies, q / 100) * 1000, 2) for q in (50, 95, 99)},
        "error_rate": round(sum(s >= 400 for s in statuses) / len(statuses), 4), "ids": ids,
    }  # fmt: skip


def logged_ids(home: Path) -> set[str]:
    with sqlite3.connect(home / "serving" / "requests.sqlite") as con:
        return {row[0] for row in con.execute("select request_id from requests")}


def run_levels(home: Path, key: str, levels: list[int], per_level: dict[str, int], seconds: float) -> dict:
    """Every level for lookups then what-ifs on one server; SIGTERM; the log checked against the ids."""
    from platform_assets.serving.bundle import current_generation, read_bundle

    content = read_bundle(home / "serving", current_generation(home / "serving"))
    series = (
        content.frames["forecasts"]
        .select("product_id", "store_id")
        .unique()
        .sort("product_id", "store_id")
        .rows()
    )
    dates = content.manifest["features"]["target_dates"]
    server = Server(home)
    runs = []
    for kind in ("lookup", "what_if"):
        for concurrency in levels:
            cpu_before = server.cpu_seconds()
            run = asyncio.run(
                load(server.url, key, kind, series, dates, concurrency, per_level[kind], seconds)
            )
            run["server_cpu"] = round((server.cpu_seconds() - cpu_before) / run["seconds"], 2)
            runs.append(run)
            print({k: v for k, v in run.items() if k != "ids"}, flush=True)
    server.stop(signal.SIGTERM)
    sent = [i for run in runs for i in run.pop("ids")]
    logged = logged_ids(home)
    return {
        "runs": runs,
        "series": len(series),
        "requests_sent": len(sent),
        "log_rows": len(set(sent) & logged),
        "lost_log_rows": len(set(sent) - logged),
        "server_peak_rss_mib": round(server.peak_rss / 2**20),
    }


def sigkill_loss(home: Path, key: str, seconds: float) -> dict:
    """Lookups at concurrency 50, SIGKILL right after the last answer: answered vs logged."""
    from platform_assets.serving.bundle import current_generation, read_bundle

    content = read_bundle(home / "serving", current_generation(home / "serving"))
    series = content.frames["forecasts"].select("product_id", "store_id").unique().rows()
    server = Server(home)
    run = asyncio.run(load(server.url, key, "lookup", series, [], 50, 10**9, seconds))
    server.stop(signal.SIGKILL)
    answered = set(run["ids"])
    lost = len(answered - logged_ids(home))
    return {"seconds": seconds, "answered": len(answered), "lost": lost, "rps": run["rps"]}


def section(results: dict) -> str:
    rows = "\n".join(
        f"| {r['kind']} | {r['concurrency']} | {r['requests']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} "
        f"| {r['p99_ms']} | {r['error_rate']:.2%} | {r['server_cpu']} |"
        for r in results["runs"]
    )
    kill, sent, lost = results["sigkill"], results["requests_sent"], results["lost_log_rows"]
    lookups, what_ifs = results["per_level"]["lookup"], results["per_level"]["what_if"]
    return f"""{START}
## Serving: `shelfcast serve` under load

Generated by `python bench/serving_bench.py` on {results["date"]} (raw numbers: `bench/results/serving.json`).
Machine: {results["machine"]}; other jobs were running (load average
{results["load_average"]} before the run). One server process (uvicorn, 1 worker) over the bundle of the
default synthetic feed ({results["series"]} series, horizon 14); a closed-loop aiohttp load generator on the
same 2 cores, each client sending its next request when the last one is answered; per level at most
{lookups} lookups / {what_ifs} what-ifs or {results["seconds"]} s. Lookups: one series by product and store;
what-ifs: one series x 14 periods, a promotional price cut on one date (feature rows of its peer group
rebuilt, scored by the champion). CPU: the server's cores busy (1.0 = one core).

| kind | concurrency | requests | req/s | p50 ms | p95 ms | p99 ms | errors | server CPU |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

Request log after SIGTERM: {results["log_rows"]} of {sent} requests logged, {lost} lost; server peak
RSS {results["server_peak_rss_mib"]} MiB. SIGKILL right after a {kill["seconds"]} s lookup burst at
concurrency 50 ({kill["answered"]} answered): {kill["lost"]} answered requests missing from the log.
Not measured: the `mlflow models serve` peer; 250,000 requests in all (the levels above hold fewer).
{END}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="a SHELFCAST_HOME with a serving bundle (make demo)")
    parser.add_argument("--quick", action="store_true", help="levels 1, 10; 200 lookups, 50 what-ifs")
    args = parser.parse_args()
    levels = [1, 10] if args.quick else [1, 10, 50, 100, 250]
    per_level = {"lookup": 200, "what_if": 50} if args.quick else {"lookup": 5000, "what_if": 300}
    seconds = 10.0 if args.quick else 30.0
    load_average = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as scratch:
        home = args.home.resolve() if args.home else Path(scratch)
        if not (home / "serving" / "current").exists():
            print(f"building a bundle in {home} (full_refresh of the synthetic feed)", flush=True)
            build_home(home)
        from platform_assets.serving.keys import SqliteKeyStore

        _, key = SqliteKeyStore(home / "serving" / "keys.sqlite").create("serving-bench", "what-if")
        results = run_levels(home, key, levels, per_level, seconds)
        results["sigkill"] = sigkill_loss(home, key, 3.0)
    results |= {
        "date": datetime.now(UTC).date().isoformat(),
        "load_average": load_average, "per_level": per_level, "seconds": seconds,
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }  # fmt: skip
    heaviest = {r["kind"]: r for r in results["runs"] if r["concurrency"] == max(levels)}
    results |= {
        k: {"p99_ms": heaviest[k]["p99_ms"], "rps": heaviest[k]["rps"]} for k in ("lookup", "what_if")
    }
    results["mlflow_what_if_rps"] = None  # the peer is not run yet
    common.publish(RESULTS, START, END, results, section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
