"""The dbt project built for real (dbt-core + dbt-duckdb) over a tiny warehouse written to the raw contract.

The raw data is small but carries every case the models must handle: a gap inside a series,
transaction lines to aggregate, a price-only row inside the history, plan rows after the last actual,
a supplier the catalog references but the supplier feed lacks, a sale of a product missing from the
catalog (kept out of the marts and listed at warn level) and, later, forecast generations (one of
them breaking p10 <= p50).
"""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult
from polars.testing import assert_frame_equal

from platform_assets.core.schemas import (
    RAW_EVENTS,
    RAW_OBSERVATIONS,
    RAW_PRODUCTS,
    RAW_SUPPLIERS,
    REJECTED_ROWS,
)
from platform_assets.defs.warehouse import grid_vars

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
FORECASTS = {
    "product_id": pl.String(),
    "store_id": pl.String(),
    "target_date": pl.Date(),
    "horizon": pl.Int32(),
    "p10": pl.Float64(),
    "p50": pl.Float64(),
    "p90": pl.Float64(),
    "model_name": pl.String(),
    "model_version": pl.String(),
    "mlflow_run_id": pl.String(),
    "generated_at": pl.Datetime("us"),
    "method": pl.String(),
    "generation_id": pl.String(),
}
BACKTEST = {
    "product_id": pl.String(),
    "store_id": pl.String(),
    "period_date": pl.Date(),
    "origin": pl.Date(),
    "horizon": pl.Int32(),
    **{c: pl.Float64() for c in ("y", "p10", "p50", "p90", "naive", "seasonal_naive", "mase_scale")},
    "model_version": pl.String(),
}
DAILY = {"freq": "D", "active_window_periods": 2, "horizon": 3}
T0 = datetime(2025, 1, 6, 8, 0)


def d(day: int) -> date:
    return date(2025, 1, day)


def raw_frame(
    rows: list[tuple], contract: dict[str, pl.DataType], ingested_at: datetime = T0
) -> pl.DataFrame:
    """Rows in contract order (source_file/source_line filled in), plus the ingest bookkeeping."""
    names = [c for c in contract if c not in ("source_file", "source_line", "file", "line")]
    frame = pl.DataFrame(rows, schema=names, orient="row").with_row_index("source_line", offset=1)
    frame = frame.with_columns(pl.lit("test.csv").alias("source_file"), pl.lit("test.csv").alias("file"))
    frame = frame.with_columns(pl.col("source_line").alias("line"))
    return frame.select(
        *[pl.col(c).cast(t) for c, t in contract.items()],
        pl.lit("all").alias("ingest_partition"),
        pl.lit(ingested_at, pl.Datetime("us")).alias("ingested_at"),
    )


def write_table(path: Path, schema: str, table: str, frame: pl.DataFrame, replace: bool = True) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema if not exists {schema}")
        con.register("incoming", frame.to_arrow())
        if replace:
            con.execute(f"create or replace table {schema}.{table} as select * from incoming")
        else:
            con.execute(f"insert into {schema}.{table} by name select * from incoming")


def make_warehouse(path: Path) -> None:
    """The raw tables Python would land, and an empty forecasts table."""
    products = pl.concat(
        [
            raw_frame(
                [
                    ("P1", "  Apple ", "fruit", "B1", "S1", "{}"),
                    ("P2", "Pear", None, None, "S9", '{"size": "L"}'),
                    ("P3", "Plum", "", None, None, "{}"),
                ],
                RAW_PRODUCTS,
            ),
            raw_frame([("P1", "Old apple", "fruit", "B1", "S1", "{}")], RAW_PRODUCTS, datetime(2024, 1, 1)),
        ]
    )
    suppliers = raw_frame([("S1", "Acme", "TW")], RAW_SUPPLIERS)
    # (date, product_id, store_id, price, units_sold, on_promo, sales_amount)
    observations = raw_frame(
        [
            (d(1), "P1", None, 10.0, 2.0, False, None),
            (d(3), "P1", "", 12.0, 3.0, True, None),  # 2025-01-02 is a gap
            (d(4), "P1", None, 11.0, None, False, None),  # plans: after P1's last actual (01-03)
            (d(7), "P1", None, 9.0, None, True, None),
            (d(2), "P2", " s1 ", 5.0, 1.0, False, 5.0),  # two transaction lines of one day
            (d(2), "P2", "s1", 4.0, 3.0, True, 12.0),
            (d(3), "P2", "s1", 4.5, None, False, None),  # price-only row amid actuals: no sale, missing
            (d(5), "P2", "s1", 5.0, 1.0, False, 5.0),
            (d(5), "PX", None, 2.0, 1.0, False, None),  # a product the catalog lacks
        ],
        RAW_OBSERVATIONS,
    )
    rejected = raw_frame(
        [("observations", "negative price", '{"price": -1}', None, None, None)], REJECTED_ROWS
    )
    events = raw_frame(
        [
            (d(2), " fair ", "s1", None),
            (d(2), "fair", " s1", ""),  # the same event, spaced differently: one row
            (d(6), "payday", None, "fruit"),
        ],
        RAW_EVENTS,
    )
    for table, frame in [
        ("products", products),
        ("suppliers", suppliers),
        ("events", events),
        ("observations", observations),
        ("rejected_rows", rejected),
    ]:
        write_table(path, "raw", table, frame)
    write_table(path, "marts", "forecasts", pl.DataFrame(schema=FORECASTS))
    write_table(path, "ml", "backtest_predictions", pl.DataFrame(schema=BACKTEST))


def run_dbt(tmp: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dbtRunnerResult:
    """The real dbt CLI, in-process, with target and logs kept in `tmp` so parallel runs never collide."""
    monkeypatch.setenv("SHELFCAST_DUCKDB_PATH", str(warehouse))
    command, *rest = args
    return dbtRunner().invoke(
        [
            command,
            "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(PROJECT_DIR),
            "--target", "duckdb",
            "--target-path", str(tmp / "target"),
            "--log-path", str(tmp / "logs"),
            "--quiet",
            *rest,
        ]
    )  # fmt: skip


def statuses(result: dbtRunnerResult) -> dict[str, str]:
    """unique_id -> status of every node the invocation ran."""
    return {r.node.unique_id: str(r.status) for r in result.result.results}


def query(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse)) as con:
        return con.sql(sql).pl()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dbtRunnerResult]:
    tmp = tmp_path_factory.mktemp("dbt")
    warehouse = tmp / "warehouse.duckdb"
    make_warehouse(warehouse)
    with pytest.MonkeyPatch.context() as mp:
        result = run_dbt(tmp, warehouse, mp, "build", "--vars", json.dumps(DAILY))
    return tmp, warehouse, result


def test_build_succeeds_with_only_the_designed_warnings(built):
    _, _, result = built
    assert result.success, result.exception
    status = statuses(result)
    not_ok = {k: v for k, v in status.items() if v not in ("success", "pass")}
    # The sale of PX (not in the catalog) is kept out of the marts and listed, at warn level.
    assert set(not_ok.values()) == {"warn"}
    assert [k.split(".")[2] for k in not_ok] == [
        "expression_is_true_excluded_observations_exclusion_reason_is_null"
    ]


def test_grid_is_complete_zero_filled_and_price_carried_forward(built):
    _, warehouse, _ = built
    sales = query(warehouse, "select * from marts.fct_product_sales order by all")
    # A period the series' store has no actual in at all (no row of any product) is missing: units
    # null, not 0. Store 'all' has none on 01-02 and 01-04 (a plan row only), s1 none on 01-03 and 01-04.
    expected = pl.DataFrame(
        [
            ("P1", "all", d(1), 2.0, 10.0, False, True, False),
            ("P1", "all", d(2), None, 10.0, False, False, True),
            ("P1", "all", d(3), 3.0, 12.0, True, True, False),
            ("P1", "all", d(4), None, 12.0, False, False, True),  # the plan row of 01-04 is not a sale
            ("P1", "all", d(5), None, 12.0, False, False, True),  # PX (not in the catalog) is excluded
            ("P2", "s1", d(2), 4.0, 17.0 / 4.0, True, True, False),  # revenue / units of two lines
            ("P2", "s1", d(3), None, 17.0 / 4.0, False, False, True),
            ("P2", "s1", d(4), None, 17.0 / 4.0, False, False, True),
            ("P2", "s1", d(5), 1.0, 5.0, False, True, False),
        ],
        schema=[
            "product_id", "store_id", "period_date", "units_sold", "price", "on_promo", "is_observed",
            "is_missing",
        ],
        orient="row",
    )  # fmt: skip
    assert sales.select(expected.columns).to_dicts() == expected.to_dicts()


def test_transaction_lines_become_one_period_row(built):
    _, warehouse, _ = built
    row = query(
        warehouse,
        "select units_sold, price, on_promo, n_rows from intermediate.int_sales_by_period "
        "where product_id = 'P2' and period_date = date '2025-01-02'",
    )
    assert row.to_dicts() == [{"units_sold": 4.0, "price": 4.25, "on_promo": True, "n_rows": 2}]


def test_plans_are_separated_from_actuals(built):
    _, warehouse, _ = built
    plans = query(warehouse, "select * from marts.fct_price_plans order by all")
    assert plans.rows() == [("P1", "all", d(4), 11.0, False), ("P1", "all", d(7), 9.0, True)]


def test_events_are_trimmed_and_deduplicated(built):
    _, warehouse, _ = built
    events = query(warehouse, "select * from marts.fct_events order by date")
    assert events.rows() == [(d(2), "fair", "s1", None), (d(6), "payday", None, "fruit")]


def test_series_span_and_activity(built):
    _, warehouse, _ = built
    series = query(
        warehouse,
        "select product_id, store_id, category, first_date, last_actual_date, n_observed, is_active "
        "from marts.dim_series order by all",
    )
    # active_window_periods = 2: active if the last actual is one of the last two days (01-04, 01-05).
    assert series.rows() == [
        ("P1", "all", "fruit", d(1), d(3), 2, False),
        ("P2", "s1", "unknown", d(2), d(5), 2, True),
    ]


def test_dimensions(built):
    _, warehouse, _ = built
    products = query(
        warehouse, "select product_id, name, category, supplier_id from marts.dim_product order by 1"
    )
    assert products.rows() == [
        ("P1", "Apple", "fruit", "S1"),  # the newest ingest wins, trimmed
        ("P2", "Pear", "unknown", "S9"),
        ("P3", "Plum", "unknown", None),
    ]
    suppliers = query(warehouse, "select supplier_id, name, is_known from marts.dim_supplier order by 1")
    assert suppliers.rows() == [("S1", "Acme", True), ("S9", None, False)]
    schemas = query(warehouse, "select distinct table_schema from information_schema.tables order by 1")
    assert schemas["table_schema"].to_list() == [
        "intermediate",
        "marts",
        "ml",
        "monitoring",
        "raw",
        "staging",
    ]


def test_forecasts_latest_keeps_the_newest_generation_and_tests_the_band(built, monkeypatch):
    tmp, warehouse, _ = built
    assert query(warehouse, "select count(*) as n from marts.forecasts_latest").item() == 0

    def generation(at: datetime, version: str, band: tuple[float, float, float]) -> pl.DataFrame:
        series = [("P1", "all"), ("P2", "s1")]
        rows = [
            (
                p,
                s,
                d(6),
                1,
                *band,
                "shelfcast-forecaster",
                version,
                f"run{version}",
                at,
                "model",
                f"g{version}",
            )
            for p, s in series
        ]
        return pl.DataFrame(rows, schema=FORECASTS, orient="row")

    write_table(warehouse, "marts", "forecasts", generation(datetime(2025, 1, 5, 9), "1", (1, 2, 3)), False)
    write_table(warehouse, "marts", "forecasts", generation(datetime(2025, 1, 6, 9), "2", (1, 2, 4)), False)
    args = ("build", "--select", "forecasts_latest", "--vars", json.dumps(DAILY))
    result = run_dbt(tmp, warehouse, monkeypatch, *args)
    assert result.success, result.exception
    latest = query(warehouse, "select product_id, model_version, p90 from marts.forecasts_latest order by 1")
    assert latest.rows() == [("P1", "2", 4.0), ("P2", "2", 4.0)]

    write_table(warehouse, "marts", "forecasts", generation(datetime(2025, 1, 7, 9), "3", (3, 2, 4)), False)
    result = run_dbt(tmp, warehouse, monkeypatch, *args)
    assert not result.success
    failed = {k for k, v in statuses(result).items() if v in ("fail", "error")}
    assert len(failed) == 1 and "quantiles_ordered_forecasts_latest" in failed.pop()
    assert query(warehouse, "select distinct model_version from marts.forecasts_latest").item() == "3"

    # A generation with the 95% band (SHELFCAST_LEVELS=80,95): the view carries its columns and the test
    # reads them, so a p97_5 below p90 fails it.
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table marts.forecasts add column p2_5 double")
        con.execute("alter table marts.forecasts add column p97_5 double")
    for hour, upper in ((9, 5.0), (10, 3.5)):
        wide = generation(datetime(2025, 1, 8, hour), "4", (1, 2, 4)).with_columns(
            pl.lit(0.5).alias("p2_5"), pl.lit(upper).alias("p97_5")
        )
        write_table(warehouse, "marts", "forecasts", wide, False)
        result = run_dbt(tmp, warehouse, monkeypatch, *args)
        assert result.success == (upper > 4)
    assert query(warehouse, "select distinct p97_5 from marts.forecasts_latest").item() == 3.5


def test_outliers_are_excluded_listed_and_never_trained_on(built, monkeypatch):
    """Values far outside their series' history (units 1e300, a price slip by 100x either way, a sale
    200x the usual) and a product missing from the catalog are kept out of the marts, each listed in
    marts.excluded_observations with its reason, partition and bound; the other rows are untouched."""
    tmp, _, _ = built
    warehouse = tmp / "outliers.duckdb"
    make_warehouse(warehouse)
    days = [date(2025, 2, 1) + timedelta(days=i) for i in range(20)]
    usual = [(day, "P3", None, 10.0, float(2 + i % 3), False, None) for i, day in enumerate(days)]
    odd = {
        days[4]: (500.0, 10.0, "units_sold outlier: above the series bound"),
        days[7]: (3.0, 1000.0, "price outlier: above the series bound"),
        days[9]: (3.0, 0.01, "price outlier: below the series bound"),
        days[12]: (1e300, 10.0, "units_sold above max_plausible_value"),
    }
    rows = [
        (day, p, s, odd[day][1], odd[day][0], False, None) if day in odd else (day, p, s, *values)
        for day, p, s, *values in usual
    ]
    rows.append((days[-1] + timedelta(days=1), "PY", None, 1.0, 1.0, False, None))  # not in the catalog
    rows += [(day, "P1", None, 5.0, 1.0, False, None) for day in days]  # the store reports every day
    write_table(warehouse, "raw", "observations", raw_frame(rows, RAW_OBSERVATIONS))
    args = ("run", "--select", "+excluded_observations", "+fct_product_sales", "--vars", json.dumps(DAILY))
    assert run_dbt(tmp, warehouse, monkeypatch, *args).success

    excluded = query(warehouse, "select * from marts.excluded_observations order by obs_date")
    assert excluded.select("obs_date", "exclusion_reason").rows() == [
        *[(day, reason) for day, (_, _, reason) in sorted(odd.items())],
        (days[-1] + timedelta(days=1), "product not in the catalog"),
    ]
    assert excluded["ingest_partition"].to_list() == ["all"] * 5
    assert excluded["units_sold_max"][0] == 50 * 4.0  # outlier_factor x the 0.9 quantile of 2, 3, 4
    sales = query(warehouse, "select * from marts.fct_product_sales where product_id = 'P3' order by 3")
    assert sales.height == len(days)
    assert sales.filter(pl.col("period_date").is_in(list(odd)))["is_observed"].to_list() == [False] * 4
    # Not days without sales either: missing, so no training target (a 1e300 did not become a 0).
    kept_out = sales.filter(pl.col("period_date").is_in(list(odd))).select("is_missing", "units_sold")
    assert kept_out.rows() == [(True, None)] * 4
    assert sales.filter(~pl.col("period_date").is_in(list(odd)))["is_missing"].not_().all()
    assert sales["units_sold"].max() == 4.0 and sales["price"].to_list() == [10.0] * len(days)
    assert (
        "PY" not in query(warehouse, "select product_id from intermediate.int_series")["product_id"].to_list()
    )


def test_a_product_that_leaves_the_catalog_leaves_every_mart(built, monkeypatch):
    """The catalog changed between runs (or between the ingests of one run): an incremental build that
    does not rebuild the product's periods still drops its series, its grid rows and so its forecasts;
    its observations are listed as excluded."""
    tmp, _, _ = built
    warehouse = tmp / "catalog.duckdb"
    make_warehouse(warehouse)
    marts = "+fct_product_sales", "+dim_series", "+excluded_observations"
    assert run_dbt(
        tmp, warehouse, monkeypatch, "run", "--select", *marts, "--vars", json.dumps(DAILY)
    ).success
    assert "P2" in query(warehouse, "select product_id from marts.fct_product_sales")["product_id"].to_list()

    catalog = raw_frame([("P1", "Apple", "fruit", "B1", "S1", "{}")], RAW_PRODUCTS, T0 + timedelta(days=1))
    write_table(warehouse, "raw", "products", catalog)
    window = {**DAILY, "refresh_from": "2025-02-01", "refresh_until": "2025-02-01"}  # P2's January untouched
    assert run_dbt(
        tmp, warehouse, monkeypatch, "run", "--select", *marts, "--vars", json.dumps(window)
    ).success
    for table in ("marts.fct_product_sales", "marts.dim_series"):
        assert query(warehouse, f"select distinct product_id from {table}")["product_id"].to_list() == ["P1"]
    excluded = query(
        warehouse, "select product_id, count(*) as n from marts.excluded_observations group by all order by 1"
    )
    assert excluded.rows() == [("P2", 4), ("PX", 1)]


def test_weekly_periods_start_on_monday(built, monkeypatch):
    tmp, _, _ = built
    weekly = tmp / "weekly.duckdb"
    make_warehouse(weekly)
    args = ("run", "--select", "+fct_product_sales", "+fct_price_plans", "--vars", json.dumps({"freq": "W"}))
    assert run_dbt(tmp, weekly, monkeypatch, *args).success
    sales = query(
        weekly, "select product_id, period_date, units_sold, price from marts.fct_product_sales order by 1"
    )
    monday = date(2024, 12, 30)  # the week of 2025-01-01 (a Wednesday)
    assert sales.rows() == [
        ("P1", monday, 5.0, 11.0),
        ("P2", monday, 5.0, 22.0 / 5.0),
    ]
    # The 01-04 plan falls in the week of P1's last actual; only the 01-07 plan (next Monday) remains.
    plans = query(weekly, "select product_id, period_date, price from marts.fct_price_plans")
    assert plans.rows() == [("P1", date(2025, 1, 6), 9.0)]


def test_parse_documents_every_model_and_column_and_wires_sources(built, monkeypatch):
    tmp, warehouse, _ = built
    result = run_dbt(tmp / "parse", warehouse, monkeypatch, "parse")
    assert result.success, result.exception
    manifest = json.loads((tmp / "parse" / "target" / "manifest.json").read_text())
    asset_keys = {s["name"]: s["meta"]["dagster"]["asset_key"] for s in manifest["sources"].values()}
    assert asset_keys == {
        "products": ["raw_products"],
        "suppliers": ["raw_suppliers"],
        "events": ["raw_events"],
        "observations": ["raw_observations"],
        "rejected_rows": ["rejected_rows"],
        "forecasts": ["forecasts"],
        "backtest_predictions": ["trained_model"],
        "backtest_components": ["trained_model"],
        "training_features": ["training_features"],
        "inference_features": ["inference_features"],
        "drift_scores": ["drift_scores"],
        "served_requests": ["served_requests"],
        "request_windows": ["request_windows"],
    }
    # Every table Python writes is declared (and so documented in `dbt docs`), not only those read.
    assert all(s["description"] for s in manifest["sources"].values())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    columns = query(warehouse, "select table_schema, table_name, column_name from information_schema.columns")
    for model in models:
        assert model["description"], model["name"]
        built_columns = set(
            columns.filter(table_schema=model["schema"], table_name=model["name"])["column_name"]
        )
        documented = {c for c, spec in model["columns"].items() if spec["description"]}
        assert built_columns and built_columns <= documented, (model["name"], built_columns - documented)


# --- Incremental models: a full build, then a run over newer partitions, equals a from-scratch build.

# (date, product_id, store_id, price, units_sold, on_promo, sales_amount); partitions are the months.
BEFORE = [
    (date(2024, 12, 28), "P1", None, 10.0, 2.0, False, None),
    (date(2024, 12, 30), "P1", None, None, 1.0, False, None),  # Monday: its week reaches into January
    (date(2024, 12, 29), "P2", "s1", 5.0, 1.0, False, 5.0),
    (date(2025, 1, 2), "P1", None, None, 3.0, False, None),  # price carried from December
    (date(2025, 1, 3), "P1", None, 12.0, 1.0, True, None),
    (date(2025, 1, 5), "P1", None, 11.0, None, False, None),  # plans
    (date(2025, 1, 6), "P1", None, 9.0, None, True, None),
    (date(2025, 1, 1), "P2", "s1", None, 2.0, False, None),  # vanishes when January is re-landed
    (date(2025, 1, 3), "P2", "s1", None, 1.0, False, None),
    (date(2025, 1, 3), "PX", None, 2.0, 1.0, False, None),  # a series that vanishes with January
]
# January re-landed (a plan became a sale, rows and a series vanished, a series appeared) + February.
AFTER = [
    *BEFORE[:5],
    (date(2025, 1, 5), "P1", None, None, 4.0, False, None),
    (date(2025, 1, 6), "P1", None, 9.0, None, True, None),
    (date(2025, 1, 3), "P2", "s1", None, 1.0, False, None),
    (date(2025, 1, 4), "P3", "s1", 3.0, 2.0, False, None),
    (date(2025, 2, 3), "P1", None, 8.0, None, False, None),
]
INCREMENTAL = ["intermediate.int_sales_by_period", "marts.fct_product_sales", "monitoring.forecast_accuracy"]
TABLES = [
    *INCREMENTAL,
    "intermediate.int_series",
    "intermediate.int_price_plans",
    "marts.dim_series",
    "marts.fct_price_plans",
    "marts.forecasts_latest",
]


def observations(rows: list[tuple]) -> pl.DataFrame:
    """Raw observation rows, each in the monthly ingest partition of its date."""
    frame = raw_frame(rows, RAW_OBSERVATIONS)
    return frame.with_columns(pl.col("date").dt.truncate("1mo").cast(pl.String()).alias("ingest_partition"))


def generations(freq: str, *specs: tuple[str, date, list[str]]) -> pl.DataFrame:
    """Forecast generations (id, first target period, series), horizons 1-3, one period apart."""
    step = timedelta(days=7 if freq.startswith("W") else 1)
    made = {gen: datetime.combine(first - step, datetime.min.time()) for gen, first, _ in specs}
    rows = [
        (p, "s1" if p in ("P2", "P3") else "all", first + (h - 1) * step, h, 0.5, 1.5, 3.0,
         "shelfcast-forecaster", "1", "run1", made[gen], "model", gen)
        for gen, first, series in specs
        for p in series
        for h in (1, 2, 3)
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=FORECASTS, orient="row")


# Per frequency: generations whose targets lie before the refreshed months (kept as scored), inside
# them (rescored), and after the old last actual (scored once the actuals arrive).
GENERATIONS = {
    "D": [("g0", date(2024, 12, 29), ["P1", "P2"]), ("g1", d(2), ["P1", "P2"]),
          ("g2", d(4), ["P1", "P2", "PX"]), ("g3", d(6), ["P1"])],
    "W": [("g0", date(2024, 12, 16), ["P1", "P2"]), ("g1", date(2024, 12, 23), ["P1", "P2"]),
          ("g2", date(2024, 12, 30), ["P1", "P2", "PX"]), ("g3", d(6), ["P1"])],
    "W-THU": [("g0", date(2024, 12, 19), ["P1", "P2"]), ("g1", date(2024, 12, 26), ["P1", "P2"]),
              ("g2", d(2), ["P1", "P2", "PX"]), ("g3", d(9), ["P1"])],
}  # fmt: skip


@dataclass
class Engine:
    """A warehouse dbt builds into: how the test writes raw tables, reads results and points dbt at it."""

    target: str
    env: dict[str, str]
    write: Callable[[str, str, pl.DataFrame], object]
    read: Callable[[str], pl.DataFrame]


@pytest.fixture(scope="module")
def postgres_engine(pg_dsn: str) -> Iterator[Engine]:
    """A database of its own beside the session's (the parity tests own that one)."""
    from platform_assets.storage.databases import sibling_database
    from platform_assets.storage.postgres_warehouse import PostgresWarehouse, dbt_environment
    from tests.support.postgres import scratch_database

    with scratch_database(sibling_database(pg_dsn, "dbt")) as dsn:
        warehouse = PostgresWarehouse(dsn=dsn)

        def write(schema: str, table: str, frame: pl.DataFrame) -> None:
            if not warehouse.table_exists(schema, table):
                warehouse.replace_table(schema, table, frame)
                return
            with warehouse.connect() as con, con.cursor() as cur:  # dbt's views depend on it: keep it
                cur.execute(f"delete from {schema}.{table}")
                con.commit()
            warehouse.append(schema, table, frame)

        yield Engine("postgres", dbt_environment(dsn), write, warehouse.query)


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_engine")
    path = tmp_path / "incremental.duckdb"
    return Engine(
        "duckdb",
        {"SHELFCAST_DUCKDB_PATH": str(path)},
        lambda schema, table, frame: write_table(path, schema, table, frame),
        lambda sql: query(path, sql),
    )


def land(engine: Engine, rows: list[tuple], forecasts: pl.DataFrame) -> None:
    """The raw tables and what the ML layer writes, as ingest and training would leave them."""
    products = raw_frame([(p, p, "fruit", None, None, "{}") for p in ("P1", "P2", "P3")], RAW_PRODUCTS)
    backtest = pl.DataFrame(
        [(p, s, date(2024, 12, 20), date(2024, 12, 19), 1, 2.0, 1.0, 2.0, 3.0, 1.0, 1.0, 0.5, "1")
         for p, s in (("P1", "all"), ("P2", "s1"))],
        schema=BACKTEST, orient="row",
    )  # fmt: skip
    for schema, table, frame in [
        ("raw", "products", products),
        ("raw", "suppliers", raw_frame([], RAW_SUPPLIERS)),
        ("raw", "events", raw_frame([], RAW_EVENTS)),
        ("raw", "observations", observations(rows)),
        ("raw", "rejected_rows", raw_frame([], REJECTED_ROWS)),
        ("marts", "forecasts", forecasts),
        ("ml", "backtest_predictions", backtest),
    ]:
        engine.write(schema, table, frame)


def build(tmp: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch, variables: dict, *flags: str):
    """`dbt build` (`dbt run` with --full-refresh: only the incremental run's tests matter here)."""
    for key, value in engine.env.items():
        monkeypatch.setenv(key, value)
    command = "run" if "--full-refresh" in flags else "build"
    result = dbtRunner().invoke(
        [command, *flags, "--vars", json.dumps(variables), "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR), "--target", engine.target,
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--quiet"]
    )  # fmt: skip
    assert result.success, result.exception or {k: v for k, v in statuses(result).items() if v != "pass"}
    return result


def tables(engine: Engine) -> dict[str, pl.DataFrame]:
    return {t: (f := engine.read(f"select * from {t}")).sort(f.columns) for t in TABLES}


@pytest.mark.parametrize(
    ("engine", "freq"),
    [("duckdb", "D"), ("duckdb", "W"), ("postgres", "D"), ("duckdb", "W-THU"), ("postgres", "W-THU")],
    indirect=["engine"],
)
def test_incremental_refresh_equals_a_full_build(engine, freq, tmp_path, monkeypatch):
    """Full build, then January and February re-landed and built incrementally over those months (what
    daily_refresh passes): every table equals a from-scratch build of the same raw data."""
    variables = {**DAILY, **grid_vars(freq)}
    land(engine, BEFORE, generations(freq, *GENERATIONS[freq][:2]))
    build(tmp_path, engine, monkeypatch, variables, "--full-refresh")
    scored = engine.read("select count(*) as n from monitoring.forecast_accuracy").item()

    land(engine, AFTER, generations(freq, *GENERATIONS[freq]))
    window = {"refresh_from": "2025-01-01", "refresh_until": "2025-02-01"}
    result = build(tmp_path, engine, monkeypatch, {**variables, **window})
    ran = {r.node.name: r for r in result.result.results}
    # Incremental for real: the grid reads its own rows (the price carried into the window), and the
    # tests of the incremental models check the rebuilt periods only.
    assert "carried as" in ran["fct_product_sales"].node.compiled_code
    scoped = [r.node.compiled_code for n, r in ran.items() if n.startswith("unique_combination_fct_product")]
    assert scoped and all("dbt_subquery" in code for code in scoped)
    incremental = tables(engine)

    build(tmp_path, engine, monkeypatch, variables, "--full-refresh")
    full = tables(engine)
    for table in TABLES:
        try:
            assert_frame_equal(incremental[table], full[table], check_exact=False)
        except AssertionError as exc:
            raise AssertionError(f"{table}: the incremental build differs from a full build") from exc
    # The refresh changed what the tables hold (else equality would prove nothing).
    assert full["monitoring.forecast_accuracy"].height > scored > 0
    assert full["marts.fct_product_sales"].filter(product_id="PX").height == 0


# Per grid: (date, product_id) of the sales, the plan's date, then the grid, the plans and the activity
# (one period window) the marts must hold, labelled as the user labels periods.
USER_LABELS = {
    # Weeks ending on Thursday: Wed 01-01 and Thu 01-02 are the week ending 01-02, Fri 01-03 starts the
    # week ending 01-09 (P1 has no row in it: 0 units), Fri 01-10 is in the week ending 01-16.
    "W-THU": (
        [(d(1), "P1"), (d(2), "P1"), (d(10), "P1"), (d(3), "P2"), (d(20), "P2")],
        d(29),
        [("P1", d(2), 2.0), ("P1", d(9), 0.0), ("P1", d(16), 1.0), ("P1", d(23), 0.0),
         ("P2", d(9), 1.0), ("P2", d(16), 0.0), ("P2", d(23), 1.0)],
        [("P1", d(30), 9.0)],
        [("P1", False, d(16)), ("P2", True, d(23))],
    ),
    # Months by their last day: December (no row at all: missing) and February are gaps named 12-31 and
    # 02-28; one month before
    # 02-28 is 01-31 (not 01-28), so P1, last sold in January, is not active.
    "ME": (
        [(date(2024, 11, 30), "P1"), (d(31), "P1"), (date(2025, 2, 14), "P2")],
        date(2025, 3, 3),
        [("P1", date(2024, 11, 30), 1.0), ("P1", date(2024, 12, 31), None), ("P1", d(31), 1.0),
         ("P1", date(2025, 2, 28), 0.0), ("P2", date(2025, 2, 28), 1.0)],
        [("P1", date(2025, 3, 31), 9.0)],
        [("P1", False, d(31)), ("P2", True, date(2025, 2, 28))],
    ),
}  # fmt: skip


@pytest.mark.parametrize("engine", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize("freq", USER_LABELS)
def test_weeks_and_months_keep_the_users_labels(engine, freq, tmp_path, monkeypatch):
    """The grid, the plans and the activity window on weeks ending on Thursday and on month ends, on
    both engines: every period_date is a label of the user's grid, gaps included."""
    sales, plan_day, grid, plans, active = USER_LABELS[freq]
    rows = [(day, p, None, 2.0, 1.0, False, None) for day, p in sales]  # one store: gaps are 0 or missing
    land(engine, [*rows, (plan_day, "P1", None, 9.0, None, False, None)], pl.DataFrame(schema=FORECASTS))
    variables = {**DAILY, **grid_vars(freq), "active_window_periods": 1}
    build(tmp_path, engine, monkeypatch, variables, "--full-refresh")

    sales_rows = engine.read("select product_id, period_date, units_sold from marts.fct_product_sales")
    assert sorted(sales_rows.rows()) == grid
    assert engine.read("select product_id, period_date, price from marts.fct_price_plans").rows() == plans
    series = engine.read("select product_id, is_active, last_actual_date from marts.dim_series order by 1")
    assert series.rows() == active


def test_runs_pass_their_partition_months_to_dbt_and_full_refresh_rebuilds():
    """daily_refresh (a partition or a range) builds incrementally over its months; full_refresh and
    unpartitioned runs get no window, and warehouse_models adds --full-refresh for them."""
    import dagster as dg

    from platform_assets.defs.orchestration import partition_range_tags
    from platform_assets.defs.warehouse import refresh_window

    def window(job: str, tags: dict[str, str]) -> tuple[str, str] | None:
        return refresh_window(dg.DagsterRun(job_name=job, run_id="r", tags=tags))

    months = partition_range_tags("2025-01-01", "2025-02-01")
    assert window("daily_refresh", months) == ("2025-01-01", "2025-02-01")
    assert window("daily_refresh", {"dagster/partition": "2025-03-01"}) == ("2025-03-01", "2025-03-01")
    assert window("full_refresh", months) is None
    assert window("retrain", {}) is None


@pytest.mark.parametrize("freq", [None, "W-SUN", "me"])
def test_standalone_dbt_reads_the_same_settings_as_the_pipeline(built, freq, monkeypatch):
    """`dbt build` run by hand takes SHELFCAST_FREQ / _HORIZON / _TARGET / _ACTIVE_WINDOW as the
    pipeline does (which passes them as --vars), so a dbt user gets the same grid, not the defaults."""
    tmp, warehouse, _ = built
    for key, value in {"FREQ": freq, "HORIZON": "9", "TARGET": "price", "ACTIVE_WINDOW": "5"}.items():
        if value is None:
            monkeypatch.delenv(f"SHELFCAST_{key}", raising=False)
        else:
            monkeypatch.setenv(f"SHELFCAST_{key}", value)
    names = ("freq", "week_anchor", "period_label", "horizon", "target", "active_window_periods")
    inline = "select " + ", ".join(f"'{{{{ var('{n}') }}}}' as {n}" for n in names)
    result = run_dbt(tmp / f"vars-{freq}", warehouse, monkeypatch, "compile", "--inline", inline)
    assert result.success, result.exception
    sql = result.result.results[0].node.compiled_code
    values = dict(zip(names, re.findall(r"'([^']*)'", sql), strict=True))
    expected = {
        **grid_vars((freq or "D").upper()),
        "horizon": 9,
        "target": "price",
        "active_window_periods": 5,
    }
    assert values == {k: str(v) for k, v in expected.items()}
