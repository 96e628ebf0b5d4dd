"""Serving: a real `shelfcast serve` process on 127.0.0.1 under a bounded async load (aiohttp), lookups
and what-ifs at several concurrencies; latency percentiles, throughput, errors, the server's CPU and
RSS, and whether the request log holds every request sent (after a SIGTERM), plus what a SIGKILL loses.
Peer: `mlflow models serve` of the same champion (the registered version behind the `champion` alias,
`--env-manager local`) on the same what-if scenarios.

The bundle comes from a graph run on the synthetic feed (`--home`: one `make demo` made; default: a
fresh home built here). The load generator shares the 2 cores with the server, so the numbers are
lower bounds of what the server alone would do.
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
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from bench import common
from bench.common import Server, build_home, percentile, what_if_scenarios

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "serving.json"
START, END = "<!-- serving:start -->", "<!-- serving:end -->"
SCENARIOS = 50  # distinct what-if scenarios, the same for both servers
KINDS = ("lookup", "what_if")
LEVELS = (1, 10, 50, 100)
OPEN_RATE = 500.0  # lookups a second offered in the open-loop run (the aim: p99 < 25 ms there)


async def load(url: str, key: str, kind: str, targets: list, concurrency: int, requests: int,
               seconds: float, rate: float | None = None) -> dict:  # fmt: skip
    """`requests` requests (or `seconds`, whichever ends first) over `concurrency` keep-alive
    connections (aiohttp: httpx's async client became the bottleneck above ~10 connections). `targets`:
    (product, store) series for lookups, what-if scenarios, or the MLflow server's request bodies.
    Closed loop (each client sends when answered), or with `rate` open loop: requests start on a fixed
    schedule and latency counts from the scheduled time (waiting for a connection included)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {key}"}
    latencies, statuses, ids = [], [], []
    sent = [0]
    stop_at = time.monotonic() + seconds

    async def call(session: aiohttp.ClientSession, rng: random.Random, due: float | None = None) -> None:
        target = rng.choice(targets)
        if kind == "lookup":
            params = {"product_id": target[0], "store_id": target[1]}
            request = session.get(f"{url}/v1/forecasts", params=params)
        elif kind == "what_if":
            change = {"target_date": target[2], "price_change_pct": -20, "on_promo": True}
            body = {"scenarios": [{"product_id": target[0], "store_id": target[1], "changes": [change]}]}
            request = session.post(f"{url}/v1/what-if", json=body)
        else:  # the MLflow peer: the same scenario as the registered model's input rows
            json_type = {"Content-Type": "application/json"}
            request = session.post(f"{url}/invocations", data=target, headers=json_type)
        began = due or time.perf_counter()
        async with request as response:
            await response.read()
        latencies.append(time.perf_counter() - began)
        statuses.append(response.status)
        ids.append(response.headers.get("x-request-id"))

    async def worker(session: aiohttp.ClientSession, rng: random.Random) -> None:
        while sent[0] < requests and time.monotonic() < stop_at:
            sent[0] += 1
            await call(session, rng)

    async def paced(session: aiohttp.ClientSession, rng: random.Random) -> None:
        tasks, start = [], time.perf_counter()
        for i in range(requests):
            due = start + i / rate
            if time.monotonic() >= stop_at:
                break
            await asyncio.sleep(max(due - time.perf_counter(), 0))
            tasks.append(asyncio.create_task(call(session, rng, due)))
        await asyncio.gather(*tasks)

    began = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout) as session:
        if rate:
            await paced(session, random.Random(0))
        else:
            await asyncio.gather(*(worker(session, random.Random(i)) for i in range(concurrency)))
    wall = time.perf_counter() - began
    return {
        "kind": kind, "concurrency": concurrency, "offered_rps": rate, "requests": len(statuses),
        "seconds": round(wall, 2),
        "rps": round(len(statuses) / wall, 1),
        **{f"p{q}_ms": round(percentile(latencies, q / 100) * 1000, 2) for q in (50, 95, 99)},
        "error_rate": round(sum(s >= 400 for s in statuses) / len(statuses), 4), "ids": ids,
    }  # fmt: skip


def logged_ids(home: Path) -> set[str]:
    with sqlite3.connect(home / "serving" / "requests.sqlite") as con:
        return {row[0] for row in con.execute("select request_id from requests")}


def served_series(home: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """The bundle's series (sorted) and target dates."""
    from platform_assets.serving.bundle import current_generation, read_bundle

    content = read_bundle(home / "serving", current_generation(home / "serving"))
    forecasts = content.frames["forecasts"].select("product_id", "store_id").unique()
    return forecasts.sort("product_id", "store_id").rows(), content.manifest["features"]["target_dates"]


def measured(server: Server, url: str, key: str, kind: str, targets: list, concurrency: int,
             requests: int, seconds: float, rate: float | None = None) -> dict:  # fmt: skip
    cpu_before = server.cpu_seconds()
    run = asyncio.run(load(url, key, kind, targets, concurrency, requests, seconds, rate))
    run["server_cpu"] = round((server.cpu_seconds() - cpu_before) / run["seconds"], 2)
    print({k: v for k, v in run.items() if k != "ids"}, flush=True)
    return run


def run_levels(home: Path, key: str, levels: list[int], per_level: dict[str, int], seconds: dict,
               kinds: tuple[str, ...] = KINDS, workers: int = 1) -> dict:  # fmt: skip
    """Every level for lookups then what-ifs on one server; SIGTERM; the log checked against the ids."""
    series, dates = served_series(home)
    targets = {"lookup": series, "what_if": what_if_scenarios(series, dates, SCENARIOS)}
    server = Server(home, workers=workers)
    runs = [
        measured(server, server.url, key, kind, targets[kind], concurrency, per_level[kind], seconds[kind])
        for kind in kinds
        for concurrency in levels
    ]
    # The aim's own terms: lookups offered at OPEN_RATE a second (up to 100 connections), not a closed loop.
    open_loop = measured(
        server, server.url, key, "lookup", series, 100, per_level["open_loop"], 60, OPEN_RATE
    )
    server.stop(signal.SIGTERM)
    runs.append(open_loop)
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
    series, _ = served_series(home)
    server = Server(home)
    run = asyncio.run(load(server.url, key, "lookup", series, 50, 10**9, seconds))
    server.stop(signal.SIGKILL)
    answered = set(run["ids"])
    lost = len(answered - logged_ids(home))
    return {"seconds": seconds, "answered": len(answered), "lost": lost, "rps": run["rps"]}


def mlflow_body(bundle, product: str, store: str, day: str) -> bytes:
    """One what-if scenario as the registered model's own input (JSON `dataframe_split`): a row per
    target date of the series, the whole horizon as our what-if answers it. The changed date carries
    its planned price (the one a -20% change gives on the feed's grid, as our server computes it) and
    promotion; the other dates carry the stored plan's promotion and no price (the stored one): MLflow's
    JSON parsing reads a null boolean as false, so a row cannot leave `on_promo` unset. The MLflow
    server rebuilds the peer group's feature rows itself, as our server does."""
    import polars as pl

    from platform_assets.serving.scenario import Change, SeriesPlan, changed_plan_rows, resolve_series

    plan = SeriesPlan(product, store, (Change(date.fromisoformat(day), None, -20, True),))
    changed = changed_plan_rows(bundle, resolve_series(bundle, [plan]), [plan])
    stored = bundle.series_plans(product, store).select(
        "product_id", "store_id", pl.col("target_date").alias("period_date"), "on_promo_baseline"
    )
    rows = (
        stored.join(changed, on=["product_id", "store_id", "period_date"], how="left", maintain_order="left")
        .select(
            "product_id", "store_id", pl.col("period_date").cast(pl.String).alias("target_date"), "price",
            pl.coalesce("on_promo", "on_promo_baseline").alias("on_promo"),
        )
    )  # fmt: skip
    split = rows.to_pandas().to_json(orient="split", index=False)
    return b'{"dataframe_split": ' + split.encode() + b"}"


def mlflow_peer(home: Path, levels: list[int], requests: int, seconds: float) -> dict:
    """`mlflow models serve` of the champion on the what-if scenarios, at the lowest and highest level.
    A failure is recorded (the peer's model may change), not raised."""
    from platform_assets.serving.bundle import current_generation
    from platform_assets.serving.loaded import load_bundle

    series, dates = served_series(home)
    bundle = load_bundle(home / "serving", current_generation(home / "serving"))
    bodies = [mlflow_body(bundle, *scenario) for scenario in what_if_scenarios(series, dates, SCENARIOS)]
    try:
        server = Server(home, mlflow=True)
    except RuntimeError as exc:
        return {"runs": [], "error": str(exc)}
    try:
        difference = same_answers(bundle, server.url, bodies[:5], what_if_scenarios(series, dates, 5))
        runs = [
            measured(server, server.url, "", "mlflow", bodies, level, requests, seconds)
            for level in sorted({min(levels), max(levels)})
        ]
    finally:
        server.stop(signal.SIGTERM)
    for run in runs:
        run.pop("ids")
    return {
        "runs": runs, "server_peak_rss_mib": round(server.peak_rss / 2**20),
        "model_version": str(bundle.model_version), "max_p50_difference": difference,
    }  # fmt: skip


def same_answers(bundle, url: str, bodies: list[bytes], scenarios: list) -> float:
    """The largest |p50| difference between the MLflow server's answers and our what-if path's scenario
    for the same scenarios (series the batch forecasts by the fallback left out): is it the same model?"""
    import polars as pl

    from platform_assets.serving.scenario import Change, SeriesPlan, run_scenario

    worst = 0.0
    for body, (product, store, day) in zip(bodies, scenarios, strict=True):
        answer = httpx.post(f"{url}/invocations", content=body, headers={"Content-Type": "application/json"},
                            timeout=120).json()["predictions"]  # fmt: skip
        plan = SeriesPlan(product, store, (Change(date.fromisoformat(day), None, -20, True),))
        ours = run_scenario(bundle, [plan]).rows
        if (ours["method"] == "model").all():  # both answer every target date, by horizon
            theirs = pl.Series([row["p50"] for row in sorted(answer, key=lambda r: r["horizon"])])
            if theirs.len() != ours.height:
                raise RuntimeError(f"the MLflow server answered {theirs.len()} rows, ours {ours.height}")
            worst = max(worst, float((theirs.cast(pl.Float64) - ours["p50"]).abs().max()))
    return worst


def level(run: dict) -> str:
    rate = run.get("offered_rps")
    return f"open loop, {rate:g}/s offered" if rate else str(run["concurrency"])


def _row(r: dict, server: str) -> str:
    kind = r["kind"].replace("mlflow", "what_if")
    cells = [server, kind, level(r), r["requests"], r["rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"]]
    return "| " + " | ".join(map(str, cells)) + f" | {r['error_rate']:.2%} | {r['server_cpu']} |"


def section(results: dict) -> str:
    rows = "\n".join(
        [_row(r, "shelfcast") for r in results["runs"]]
        + [_row(r, "mlflow") for r in results["mlflow"]["runs"]]
    )
    kill, sent, lost = results["sigkill"], results["requests_sent"], results["lost_log_rows"]
    lookups, what_ifs = results["per_level"]["lookup"], results["per_level"]["what_if"]
    peer = results["mlflow"]
    ratio = (
        f"{results['what_if']['rps'] / results['mlflow_what_if_rps']:.2f}x the MLflow server's"
        if results["mlflow_what_if_rps"]
        else f"no MLflow figure ({peer.get('error', 'not run')})"
    )
    return f"""{START}
## Serving: `shelfcast serve` under load, and `mlflow models serve` of the same champion

Generated by `{results["command"]}` on {results["date"]} (raw numbers: `bench/results/serving.json`).
Machine: {results["machine"]}; other jobs were running (load average {results["load_average"]} at
the start, {results["load_average_end"]} at the end). One server process (uvicorn, 1 worker) over the
bundle of the default synthetic feed ({results["series"]} series, horizon 14); a closed-loop aiohttp
load generator on the same 2 cores, each client sending its next request when the last one is
answered; per level at most {lookups} lookups or {results["seconds"]["lookup"]} s, {what_ifs} what-ifs or
{results["seconds"]["what_if"]} s.
Lookups: one series by product and store; what-ifs: one series x 14 periods, a promotional 20% price
cut on one date (feature rows of its peer group rebuilt, scored by the champion), drawn from
{results["scenarios"]} fixed scenarios. MLflow: `mlflow models serve --env-manager local` (1 worker) of the
champion (v{peer.get("model_version")}) on the same scenarios, each sent as the registered model's input
(a row per target date of the series, the changed one with its planned price and promotion, the
others with the stored plan's promotion: MLflow reads an unset boolean as false): it
rebuilds the peer group's feature rows and forecasts the 14 periods as our server does; on 5 of the
scenarios its p50 differs from our what-if's by at most
{peer.get("max_p50_difference", float("nan")):.1e} (the same model). The open-loop row offers lookups on
a fixed schedule ({OPEN_RATE:g}/s, {results["per_level"]["open_loop"]:,} requests, up to 100 connections;
latency from the scheduled start, so a queue shows): the issue's aim, lookup p99 < 25 ms at 500
requests/s, in its own terms. CPU: the server's cores busy (1.0 = one core).

| server | kind | concurrency | requests | req/s | p50 ms | p95 ms | p99 ms | errors | server CPU |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

{sent:,} requests sent to shelfcast in all. Request log after SIGTERM: {results["log_rows"]:,} of {sent:,}
logged, {lost} lost; server peak RSS {results["server_peak_rss_mib"]} MiB (MLflow server
{peer.get("server_peak_rss_mib")} MiB). What-if throughput at concurrency {results["heaviest"]}:
{ratio}. SIGKILL right after a {kill["seconds"]} s lookup burst at concurrency 50 ({kill["answered"]}
answered): {kill["lost"]} answered requests missing from the log.
{END}
"""


def partial_run(args: argparse.Namespace) -> int:
    """Some kinds / levels / workers only (while tuning one path): each run printed, nothing written."""
    kinds = tuple(args.kinds.split(",")) if args.kinds else KINDS
    levels = [int(n) for n in args.levels.split(",")] if args.levels else list(LEVELS)
    if args.home is None or set(kinds) - set(KINDS):
        print(f"a partial run needs --home (make demo) and --kinds of {','.join(KINDS)}", file=sys.stderr)
        return 2
    per_level = {"lookup": args.requests, "what_if": args.what_ifs, "open_loop": int(OPEN_RATE * 20)}
    seconds = {"lookup": args.seconds, "what_if": args.what_if_seconds}
    from platform_assets.serving.keys import SqliteKeyStore

    home = args.home.resolve()
    _, key = SqliteKeyStore(home / "serving" / "keys.sqlite").create("serving-bench", "what-if")
    print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    results = run_levels(home, key, levels, per_level, seconds, kinds, args.workers)
    print({k: v for k, v in results.items() if k != "runs"})
    print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="a SHELFCAST_HOME with a serving bundle (make demo)")
    parser.add_argument("--requests", type=int, default=250_000, help="requests to shelfcast in all")
    parser.add_argument("--what-ifs", type=int, default=1000, help="what-ifs per level (and for MLflow)")
    parser.add_argument("--seconds", type=float, default=240.0, help="time limit of a lookup level")
    parser.add_argument("--what-if-seconds", type=float, default=90.0, help="... of a what-if level")
    parser.add_argument("--quick", action="store_true", help="levels 1, 10; 3,500 requests; 30 s a level")
    parser.add_argument("--peer-only", action="store_true",
                        help="only the MLflow peer (needs --home), `--what-ifs` requests at concurrency 1; "
                        "printed, not published")  # fmt: skip
    partial = parser.add_argument_group(
        "a partial run: prints its runs, writes no results, no SIGKILL/MLflow; --requests is per level"
    )
    partial.add_argument("--kinds", help=f"comma-separated, of {','.join(KINDS)}")
    partial.add_argument(
        "--levels", help=f"concurrencies, comma-separated (default {','.join(map(str, LEVELS))})"
    )
    partial.add_argument("--workers", type=int, default=1, help="server processes (SHELFCAST_SERVE_WORKERS)")
    args = parser.parse_args()
    if args.peer_only:
        if args.home is None:
            parser.error("--peer-only needs --home (a SHELFCAST_HOME with a serving bundle)")
        peer = mlflow_peer(args.home.resolve(), [1], args.what_ifs, args.what_if_seconds)
        print({k: v for k, v in peer.items() if k != "runs"})
        return 0 if peer["runs"] else 1
    if args.kinds or args.levels or args.workers != 1:
        return partial_run(args)
    levels = [1, 10] if args.quick else list(LEVELS)
    total, what_ifs = (3500, 50) if args.quick else (args.requests, args.what_ifs)
    seconds = {"lookup": 30.0, "what_if": 30.0} if args.quick else {
        "lookup": args.seconds, "what_if": args.what_if_seconds,
    }  # fmt: skip
    # The open-loop run (20 s of lookups at OPEN_RATE; 5 s when quick) counts towards the total.
    open_loop = int(OPEN_RATE * (5 if args.quick else 20))
    per_level = {
        "lookup": max((total - open_loop) // len(levels) - what_ifs, 0), "what_if": what_ifs,
        "open_loop": open_loop,
    }  # fmt: skip
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
        results["mlflow"] = mlflow_peer(home, levels, what_ifs, seconds["what_if"])
    closed = [r for r in results["runs"] if not r["offered_rps"]]
    heaviest = {r["kind"]: r for r in closed if r["concurrency"] == max(levels)}
    paced = next(r for r in results["runs"] if r["offered_rps"])
    peer = [r for r in results["mlflow"]["runs"] if r["concurrency"] == max(levels)]
    results |= {
        "command": common.command(__file__), "date": datetime.now(UTC).date().isoformat(),
        "load_average": load_average, "load_average_end": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "per_level": per_level, "seconds": seconds, "scenarios": SCENARIOS, "heaviest": max(levels),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        **{k: {"p99_ms": heaviest[k]["p99_ms"], "rps": heaviest[k]["rps"]} for k in ("lookup", "what_if")},
        "mlflow_what_if_rps": peer[0]["rps"] if peer else None,
        "lookup_open_loop": {k: paced[k] for k in ("offered_rps", "rps", "p50_ms", "p99_ms", "error_rate")},
    }  # fmt: skip
    common.publish(RESULTS, START, END, results, section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
