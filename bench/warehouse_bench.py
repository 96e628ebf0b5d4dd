"""Full-graph wall time on Postgres vs DuckDB, at the default synthetic size and at 10x the products.

Why: SHELFCAST_WAREHOUSE=postgres moves the warehouse, the Dagster instance and MLflow onto one server;
this measures what that costs end to end (`python -m platform_assets.cli.demo`, i.e. `make demo`) and, from
the run's event log, which step pays it.

    python bench/warehouse_bench.py          # both sizes: bench/results/warehouse.json + BENCHMARKS.md
    python bench/warehouse_bench.py --quick  # 20 products only, a smoke run: prints, writes nothing

Every run is a fresh process on fresh state: a temporary SHELFCAST_HOME and DAGSTER_HOME (the matching
`deploy/` instance yaml copied in) and, for Postgres, new databases dropped afterwards. Needs the dbt
manifest (`make manifest`) and, for Postgres, a server at 127.0.0.1:5432 that takes user postgres.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc

from bench import common
from platform_assets.storage.databases import ensure_databases, sibling_database

RESULTS = common.RESULTS_DIR / "warehouse.json"
START, END = common.markers("warehouse")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ENGINES = ("duckdb", "postgres")
INSTANCE_YAML = {"duckdb": common.LOCAL_INSTANCE, "postgres": "deploy/dagster-postgres.yaml"}
STORES, DAYS = 3, 730
# label -> products; stores and days stay at their defaults, so 10x is ten times the series.
SIZES = {"default": 100, "10x": 1000}
QUICK_SIZES = {"quick": 20}
PACKAGES = ("dagster", "dbt-core", "dbt-duckdb", "dbt-postgres", "duckdb", "lightgbm")
# A step this many times slower on Postgres than on DuckDB is called out in BENCHMARKS.md.
SLOW_RATIO = 5.0


def engine_env(home: Path, dagster_home: Path, engine: str, products: int, dsn: str | None) -> dict[str, str]:
    """The child's environment for one engine and size (common.clean_env drops the caller's settings)."""
    values = {"SHELFCAST_WAREHOUSE": engine, **common.synthetic_size(products, STORES, DAYS)}
    if dsn is not None:
        values.update(SHELFCAST_PG_DSN=dsn, SHELFCAST_DAGSTER_PG_URL=sibling_database(dsn, "dagster"))
    return common.clean_env(home, dagster_home, values)


@contextmanager
def fresh_databases(name: str) -> Iterator[str]:
    """A warehouse DSN whose databases (and `_dagster`, `_mlflow`) exist only for this run."""
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    created = ensure_databases(dsn)
    try:
        yield dsn
    finally:
        with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
            for db in created:
                cur.execute(f'drop database if exists "{db}" with (force)')


def run_graph(engine: str, products: int, label: str) -> dict:
    """One `python -m platform_assets.cli.demo` in a fresh process on fresh state; exits on failure."""
    with tempfile.TemporaryDirectory(prefix=f"shelfcast-bench-{engine}-{label}-") as tmp:
        home = Path(tmp) / "home"
        dagster_home = common.fresh_dagster_home(Path(tmp) / "dagster_home", INSTANCE_YAML[engine])
        databases = (
            fresh_databases(f"shelfcast_bench_{os.getpid()}_{label}")
            if engine == "postgres"
            else nullcontext()
        )
        with databases as dsn:
            env = engine_env(home, dagster_home, engine, products, dsn)
            log_path = Path(tmp) / "demo.log"
            child = common.run_child([sys.executable, "-m", "platform_assets.cli.demo"], env, log_path)
            wall = child.wall_seconds
            output = log_path.read_text()
            if child.exit_code != 0:
                sys.exit(f"{engine} {label}: demo exited {child.exit_code}; last output:\n{output[-4000:]}")
            stats = common.run_stats(dagster_home, env)
    summary = next(line for line in output.splitlines() if line.startswith("forecasts_latest:"))
    result = {
        "products": products,
        "stores": STORES,
        "days": DAYS,
        "wall_seconds": wall,
        "client_cpu_seconds": child.cpu_seconds,
        "peak_rss_mib": child.peak_rss_mib,
        "exit_code": child.exit_code,
        "demo_summary": summary,
        **stats,
    }
    print(
        f"{engine} {label}: wall {wall:.1f}s (job {stats['job_seconds']:.1f}s), "
        f"client CPU {result['client_cpu_seconds']:.1f}s, peak RSS {result['peak_rss_mib']:.0f} MiB",
        flush=True,
    )
    return result


def postgres_facts() -> dict:
    """Server settings that decide how fast the Postgres runs can be."""
    names = ("server_version", "shared_buffers", "work_mem", "synchronous_commit", "fsync")
    with adbc.connect(PG_SERVER) as con, con.cursor() as cur:
        cur.execute("select " + ", ".join(f"current_setting('{n}')" for n in names))
        return dict(zip(names, cur.fetchone(), strict=True))


def _ratio(pg: float, duck: float) -> str:
    ratio = pg / duck if duck > 0 else float("inf")
    text = f"{ratio:.1f}x"
    return f"**{text}**" if ratio >= SLOW_RATIO else text


def render(results: dict) -> str:
    """The warehouse section of BENCHMARKS.md, generated from the JSON so the two never disagree."""
    m, pg = results["machine"], results["machine"]["postgres"]
    sizes = results["sizes"]
    lines = [
        START,
        "## Warehouse: full graph on Postgres vs DuckDB",
        "",
        f"Generated by `{results['command']}` on {results['generated_at'][:10]} "
        f"(raw numbers: `bench/results/warehouse.json`).",
        f"Machine: {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}, dagster {m['dagster']}, "
        f"dbt-core {m['dbt-core']} (dbt-duckdb {m['dbt-duckdb']}, dbt-postgres {m['dbt-postgres']}), "
        f"duckdb {m['duckdb']}, lightgbm {m['lightgbm']}; PostgreSQL {pg['server_version']} on the same "
        f"machine (shared_buffers {pg['shared_buffers']}, work_mem {pg['work_mem']}, "
        f"synchronous_commit {pg['synchronous_commit']}, fsync {pg['fsync']}).",
        "",
        "Each cell is one `python -m platform_assets.cli.demo` (what `make demo` runs: "
        "job `full_refresh` over "
        f"the feed's whole history) in a fresh process on fresh state, synthetic feed, {STORES} stores x "
        f"{DAYS} days. On Postgres the warehouse, the Dagster instance and MLflow are all on the server "
        "(fresh databases per run); on DuckDB they are a file, SQLite and SQLite. *Wall* is the whole "
        "process (imports and definitions included), *job* the run's start to end in the Dagster event "
        "log. *Client CPU* and *peak RSS* are the demo process and the dbt processes it starts "
        "(`wait4` rusage; peak RSS is the largest single process); the Postgres server's own CPU and "
        "memory are not in them. One run per cell on a shared 2-CPU machine: expect tens of percent of "
        "noise.",
        "",
        "| engine | size | wall (s) | job (s) | client CPU (s) | peak RSS (MiB) | forecasts |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for label, by_engine in sizes.items():
        for engine, r in by_engine.items():
            forecasts = r["demo_summary"].removeprefix("forecasts_latest: ").split(" (")[0]
            lines.append(
                f"| {engine} | {label} ({r['products']:,} x {r['stores']} x {r['days']}) "
                f"| {r['wall_seconds']:.1f} | {r['job_seconds']:.1f} | {r['client_cpu_seconds']:.1f} "
                f"| {r['peak_rss_mib']:.0f} | {forecasts} |"
            )
    header = "| step |" + "".join(f" duckdb {s} (s) | postgres {s} (s) | ratio |" for s in sizes)
    lines += [
        "",
        f"Per step (event-log step start to end; ratio Postgres / DuckDB, bold at >= {SLOW_RATIO:.0f}x):",
        "",
        header,
        "|---|" + "---:|---:|---:|" * len(sizes),
    ]
    runs = [r for by_engine in sizes.values() for r in by_engine.values()]
    steps = list(dict.fromkeys(k for r in runs for k in r["steps"]))
    for step in steps:
        cells = []
        for by_engine in sizes.values():
            duck, post = (by_engine[e]["steps"].get(step) for e in ENGINES)
            cells += [
                "n/a" if duck is None else f"{duck:.1f}",
                "n/a" if post is None else f"{post:.1f}",
                "n/a" if duck is None or post is None else _ratio(post, duck),
            ]
        lines.append(f"| `{step}` | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", BENCHMARKS_NOTES.strip(), END]) + "\n"


# Hand-written reading of the numbers kept next to the generator so every regeneration keeps it.
BENCHMARKS_NOTES = """
What the numbers say (2026-11-23 runs). **Stale since 2026-11-28 for `trained_model` at 10x**: its fits
now take at most `SHELFCAST_MAX_FIT_ROWS` (1M) rows, which the 10x graph exceeds, so its 533 s would be
lower on both engines; this bench was not rerun (the scale section has the current training times).

- **`forecasts_prediction_drift` was pathological on Postgres at 10x before `PostgresWarehouse` analyzed
  what it writes** (first run of the day: 0.2 s on DuckDB, 31 s on Postgres, 33 s again in a separate
  run). Its reference query (`platform_assets/monitoring/prediction_drift.py`) filters
  `ml.backtest_predictions` by an `exists` on the newest `marts.forecasts` generation; both tables were
  bulk-loaded in the same run and never analyzed, so the planner estimated 1-2 rows per side and chose a
  nested-loop semi join: `EXPLAIN ANALYZE` on a kept 10x warehouse showed *Rows Removed by Join Filter:
  874,588,260*, 38.0 s; after `ANALYZE` a hash join in 47 ms. Every `PostgresWarehouse` write now ends
  with `analyze` on its table, inside the write's transaction; the table above is the run after that fix.
- Rerun after the median forecast (scale-weighted L1): every step stays within 4x (the largest ratios on
  sub-second steps). `trained_model` now dominates both engines alike (55 s at the default size, 533-534 s
  at 10x, was ~22 s and ~135 s with the Tweedie loss: LightGBM renews each leaf as a weighted median), so
  the job is 578 s on DuckDB vs 608 s on Postgres at 10x (+5%) and 82 s vs 87 s at the default size.
  Postgres pays 2.1x on `warehouse_models` and 1.6x on `features` at 10x. The machine was otherwise idle
  during this run (one run per cell).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="20 products only; print the summary, keep the stored results"
    )
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else SIZES
    results = {
        "command": common.command(__file__),
        "generated_at": common.now(),
        "machine": common.machine(PACKAGES, postgres=postgres_facts()),
        "sizes": {
            label: {engine: run_graph(engine, products, label) for engine in ENGINES}
            for label, products in sizes.items()
        },
    }
    if args.quick:  # a smoke run must not overwrite the published full-size results
        print(render(results))
        return
    common.publish(RESULTS, START, END, results, render(results))


if __name__ == "__main__":
    main()
