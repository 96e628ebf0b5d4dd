"""The whole graph on the landing-zone feed (plans, a corrupt file, bad rows) and on Ta Feng."""

import shutil
from pathlib import Path

import polars as pl

from tests.support.graph import materialization_metadata, shelfcast_graph

LANDING = Path(__file__).parent / "fixtures" / "landing"


def test_files_feed_lands_plans_quarantines_and_forecasts(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    (landing / "observations" / "2025-05-corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    with shelfcast_graph(tmp_path / "home", FEED="files", LANDING_DIR=str(landing), HORIZON="14") as g:
        result = g.run_history()
        assert result.success

        # The corrupt file is set aside with a report; the run says so; its neighbours still land.
        quarantined = g.config.quarantine_dir / "2025-05-corrupt.parquet"
        assert quarantined.exists() and not (landing / "observations" / quarantined.name).exists()
        assert list(g.config.quarantine_dir.glob("*.report.txt"))
        meta = materialization_metadata(result, "raw_observations")[0]
        assert any("2025-05-corrupt.parquet" in u for u in meta["unreadable_files"])
        may = g.warehouse.query("select count(*) from raw.observations where ingest_partition = '2025-05-01'")
        assert may.item() > 0

        # Bad rows are quarantined with their file, line and reason; nothing is lost.
        rejected = g.warehouse.query("select file, line, reason from raw.rejected_rows order by file")
        assert rejected.height == 3 and rejected["reason"].null_count() == 0
        assert meta["rows_in"] == meta["rows_accepted"] + meta["rows_rejected"]

        # Plans (planned prices, promotions) reach the features of the periods forecast.
        plans = g.warehouse.query("select * from marts.fct_price_plans")
        assert plans.height > 0
        future = g.warehouse.query(
            "select product_id, store_id, period_date, price from features.inference_features"
        )
        joined = plans.join(future, on=["product_id", "store_id", "period_date"], suffix="_used")
        assert joined.height == plans.height
        # features hold float32: equal to the plan within float32 precision
        assert ((joined["price"] - joined["price_used"]).abs() / joined["price"]).max() < 1e-6

        latest = g.warehouse.query("select * from marts.forecasts_latest")
        active = g.warehouse.query("select count(*) from marts.dim_series where is_active").item()
        assert latest.select("product_id", "store_id").n_unique() == active
        assert (
            latest.filter(~((pl.col("p10") <= pl.col("p50")) & (pl.col("p50") <= pl.col("p90")))).height == 0
        )


def test_broken_feed_is_blocked_before_the_warehouse(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    # A quarter of the history arrives with garbage dates: the rejected-row rate check (blocking, error
    # above 10%) stops the run before the warehouse is built.
    for month in ("2025-01", "2025-02"):
        path = landing / "observations" / f"{month}.csv"
        header, *rows = path.read_text().splitlines()
        path.write_text("\n".join([header, *(r.replace(month, "2025-13") for r in rows)]) + "\n")
    with shelfcast_graph(tmp_path / "home", FEED="files", LANDING_DIR=str(landing)) as g:
        result = g.run_history(raise_on_error=False)
        assert not result.success
        [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "rejected_row_rate"]
        assert not check.passed and check.severity.value == "ERROR"
        assert not g.warehouse.table_exists("marts", "fct_product_sales")
        assert not g.warehouse.table_exists("marts", "forecasts")


def test_tafeng_sample_to_forecasts(tmp_path):
    with shelfcast_graph(tmp_path / "home", FEED="tafeng", TAFENG_MAX_PRODUCTS="40", HORIZON="7") as g:
        result = g.run_history()
        assert result.success
        meta = materialization_metadata(result, "raw_observations")[0]
        assert meta["rows_in"] == meta["rows_accepted"] + meta["rows_rejected"] > 10_000
        # Transaction lines become one row per product and day; revenue / units is the unit price.
        check = g.warehouse.query(
            """with lines as (
                   select product_id, "date" as d, sum(units_sold) as u, sum(sales_amount) as s
                   from raw.observations group by all)
               select count(*) as n, max(abs(f.units_sold - l.u)) as du, max(abs(f.price - l.s / l.u)) as dp
               from lines l join marts.fct_product_sales f
                 on f.product_id = l.product_id and f.period_date = l.d"""
        ).row(0, named=True)
        assert check["n"] > 0 and check["du"] == 0 and check["dp"] < 1e-9
        latest = g.warehouse.query(
            "select count(distinct product_id) as n from marts.forecasts_latest"
        ).item()
        active = g.warehouse.query("select count(*) from marts.dim_series where is_active").item()
        assert latest == active > 0
