"""The whole graph on the landing-zone feed (plans, a corrupt file, bad rows) and on Ta Feng."""

import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import holidays
import polars as pl
import pytest

from platform_assets.core.periods import period_date, period_number
from platform_assets.feeds.files.reading import TEXT_TABLES
from platform_assets.modeling.names import CHAMPION
from platform_assets.modeling.registry import load_combination
from platform_assets.runner.history import history_range
from platform_assets.storage.dbt_project import INVOCATION_DIR, TARGETS_KEPT, dbt_project
from tests.support.graph import materialization_metadata, shelfcast_graph

LANDING = Path(__file__).parent / "fixtures" / "landing"


def _implausible(landing: Path) -> None:
    """One units_sold of 1e300, one row dated 2090 (a typo for 2025), and a catalog attribute whose
    name is no SQL identifier (`weight (kg)`)."""
    may = landing / "observations" / "2025-05.csv"
    may.write_text(
        may.read_text().replace("2025-05-01,P0006,S01,5.17,13,false", "2025-05-01,P0006,S01,5.17,1e300,false")
    )
    with (landing / "observations" / "2025-08.csv").open("a") as out:
        out.write("2090-08-15,P0001,S01,14.20,9,false\n")
    products = pl.read_csv(landing / "products.csv")
    products.with_columns((pl.col("pack_size") * 0.4).alias("weight (kg)")).write_csv(
        landing / "products.csv"
    )


def test_files_feed_lands_plans_quarantines_and_forecasts(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    (landing / "observations" / "2025-05-corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    _implausible(landing)
    (landing / "events.csv").write_text(EVENTS)
    env = {"FEED": "files", "LANDING_DIR": str(landing), "HORIZON": "14", "HOLIDAYS": "US-CA"}
    with shelfcast_graph(tmp_path / "home", **env) as g:
        assert history_range(g.config) == ("2025-01-01", "2025-09-01")  # 2090 never stretches the span
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
        rejected = g.warehouse.query("select source, file, line, reason from raw.rejected_rows order by file")
        assert rejected.height == 5 and rejected["reason"].null_count() == 0
        assert meta["rows_in"] == meta["rows_accepted"] + meta["rows_rejected"]
        [typo] = rejected.filter(pl.col("reason").str.starts_with("date cut off")).rows()
        assert typo[1:3] == ("observations/2025-08.csv", 365)
        assert rejected.filter(source="events").rows() == [("events", "events.csv", 4, "unparseable date")]
        _assert_calendar_features(g)
        # The serving bundle rebuilds the future rows, holidays and events included, to the bit.
        assert materialization_metadata(result, "serving_bundle")[0]["what_if"] is True

        # 1e300 lands but is excluded in the warehouse, listed with its reason, and never trained on.
        excluded = g.warehouse.query("select * from marts.excluded_observations")
        assert excluded.select("product_id", "obs_date", "exclusion_reason").rows() == [
            ("P0006", date(2025, 5, 1), "units_sold above max_plausible_value")
        ]
        assert g.warehouse.query("select max(y) from features.training_features").item() < 1000
        [unused] = [
            e for e in result.get_asset_check_evaluations() if e.check_name == "unused_rows_by_partition"
        ]
        assert unused.passed
        [gate] = materialization_metadata(result, "champion_model")
        assert gate["promoted"], gate["reason"]

        # Any attribute name works: `weight (kg)` becomes the feature attr_weight_kg, drift included.
        columns = g.warehouse.query("select * from features.training_features limit 0").columns
        assert "attr_weight_kg" in columns
        assert materialization_metadata(result, "drift_scores")
        drift = g.warehouse.query("select distinct feature from monitoring.drift_scores")["feature"]
        assert "attr_weight_kg" in drift.to_list()

        # dbt's per-invocation target folders stay bounded.
        target = Path(dbt_project.project_dir) / "target"
        assert len([p for p in target.iterdir() if INVOCATION_DIR.match(p.name)]) <= TARGETS_KEPT
        # The run's second dbt step read the project from the first one's parse (same vars and profile).
        [serving] = [p for p in target.iterdir() if p.name.startswith(f"serving_models-{result.run_id[:7]}-")]
        assert "Unable to do partial parsing" not in (serving / "dbt.log").read_text()

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


# Events: everyone's, one store's and category's, one store's; the last row is refused.
EVENTS = """date,event,store_id,category
2025-03-15,spring sale,,
2025-09-05,grocery fair,S01,grocery
2025-09-10,store reopening,S02,
not-a-date,broken,,
"""


def _assert_calendar_features(g) -> None:
    """Holidays (US-CA) and the landing zone's events are in every feature row, future ones included,
    and the champion reads them."""
    rows = g.warehouse.query(
        "select p.product_id, store_id, period_date, holidays_in_period, days_to_holiday, days_since_holiday,"
        " events_in_period, days_to_event, days_since_event from features.inference_features as f"
        " join marts.dim_product as p using (product_id) where p.category in ('grocery', 'household')"
        " and period_date in ('2025-09-01', '2025-09-05')"
    )
    got = {(p, s, d.isoformat()): tuple(values) for p, s, d, *values in rows.rows()}
    grocery, household = "P0001", "P0002"
    # 2025-09-01 is Labor Day (Independence Day 59 days before it, Veterans Day the next one).
    assert got[(grocery, "S01", "2025-09-01")] == (1, 0, 59, 0, 4, 170)
    assert got[(grocery, "S01", "2025-09-05")] == (0, 67, 4, 1, 0, 174)
    assert got[(grocery, "S02", "2025-09-05")] == (0, 67, 4, 0, 5, 174)
    assert got[(household, "S01", "2025-09-05")] == (0, 67, 4, 0, 366, 174)
    trained = g.warehouse.query("select * from features.training_features limit 0").columns
    assert {"holidays_in_period", "events_in_period"} <= set(trained)
    champion, _, _ = load_combination(g.mlflow.tracking_uri, CHAMPION)
    assert {"days_to_holiday", "days_to_event"} <= set(champion.forecaster.feature_names)
    assert g.warehouse.query("select count(*) from marts.fct_events").item() == 3


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
                   from raw.observations o
                   -- days with a bulk purchase far above the product's history: that line is kept out
                   -- of sales (and listed in excluded_observations), so the day's sum differs
                   where not exists (select 1 from marts.excluded_observations x
                                     where x.product_id = o.product_id and x.obs_date = o."date")
                   group by all)
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


def _monthly_landing(root: Path) -> pl.DataFrame:
    """1990-01 .. 2008-12 monthly for 12 products over many files: one CSV a year (P01..P10, two
    stores), P11's whole history in one Parquet file, P12's 2000-2001 in JSONL, a file of bad rows and
    a corrupt one. Returns the rows that must land, with the file and line they come from."""
    folder = root / "observations"
    folder.mkdir(parents=True)
    pl.DataFrame({"product_id": [f"P{i:02d}" for i in range(1, 13)], "name": "item"}).write_csv(
        root / "products.csv"
    )
    months = pl.date_range(date(1990, 1, 1), date(2008, 12, 1), "1mo", eager=True).alias("date")
    grid = pl.DataFrame(months).join(
        pl.DataFrame({"product_id": [f"P{i:02d}" for i in range(1, 11)]}), how="cross"
    )
    grid = grid.join(pl.DataFrame({"store_id": ["S1", "S2"]}), how="cross").with_columns(
        price=(pl.col("date").dt.month() + 0.5).cast(pl.Float64),
        units_sold=(pl.col("date").dt.year() - 1980 + pl.col("product_id").str.slice(1).cast(pl.Int64)).cast(
            pl.Float64
        ),
        on_promo=pl.col("date").dt.month() == 12,
    )
    expected = []
    for year, rows in grid.group_by(pl.col("date").dt.year(), maintain_order=True):
        name = f"observations/{year[0]}.csv"
        rows.write_csv(root / name)
        expected.append(
            rows.with_columns(source_file=pl.lit(name), source_line=pl.int_range(1, rows.height + 1))
        )
    p11 = pl.DataFrame(months).with_columns(
        product_id=pl.lit("P11"), store_id=pl.lit("all"), price=pl.lit(9.99), units_sold=pl.lit(1.0)
    )
    p11.write_parquet(folder / "extra-p11.parquet")
    expected.append(
        p11.with_columns(
            on_promo=pl.lit(None, pl.Boolean),
            source_file=pl.lit("observations/extra-p11.parquet"),
            source_line=pl.int_range(1, p11.height + 1),
        )
    )
    p12 = p11.filter(pl.col("date").dt.year().is_between(2000, 2001)).with_columns(product_id=pl.lit("P12"))
    p12.write_ndjson(folder / "extra-p12.jsonl")
    expected.append(
        p12.with_columns(
            on_promo=pl.lit(None, pl.Boolean),
            source_file=pl.lit("observations/extra-p12.jsonl"),
            source_line=pl.int_range(1, p12.height + 1),
        )
    )
    (folder / "late-fixes.csv").write_text(
        "date,product_id,store_id,price,units_sold,on_promo\n"
        "1995-13-01,P01,S1,1.5,2,false\n"  # unparseable: rejected in the first partition
        "1997-05-01,ZZ,S1,1.5,2,false\n"  # unknown product
        "1999-02-01,P01,S1,2.5,20,false\n"  # the same row as in 1999.csv: a duplicate
    )
    (folder / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    return pl.concat(expected, how="diagonal_relaxed").select(
        "date", "product_id", "store_id", "price", "units_sold", "on_promo", "source_file", "source_line"
    )


def test_backfill_reads_each_landing_file_once(tmp_path):
    """A single-run backfill over 228 monthly partitions parses every landing file once, and lands in
    each partition exactly the rows of its month (undated rejects in the first one)."""
    landing = tmp_path / "landing"
    expected = _monthly_landing(landing)
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    parses = Counter(TEXT_TABLES.parses)
    env = {"FEED": "files", "LANDING_DIR": str(landing), "HISTORY_START": "1990-01-01"}
    with shelfcast_graph(tmp_path / "home", **env) as g:
        ingest = [dg.AssetKey("raw_products"), dg.AssetKey("raw_observations")]
        result = g.run_history(asset_selection=ingest)
        assert result.success
        assert {p: TEXT_TABLES.parses[p] - parses[p] for p in files} == dict.fromkeys(files, 1)

        meta = materialization_metadata(result, "raw_observations")
        assert len(meta) == 228  # one materialization per monthly partition, all in one run
        [unreadable] = meta[0]["unreadable_files"]  # the run reports it once, for all its partitions
        assert unreadable.startswith(
            f"{landing / 'observations' / 'broken.parquet'}: cannot parse as PARQUET"
        )
        assert (g.config.quarantine_dir / "broken.parquet").is_file()
        assert len(list(g.config.quarantine_dir.glob("*.report.txt"))) == 1

        landed = g.warehouse.query(
            "select ingest_partition, date, product_id, store_id, price, units_sold, on_promo, source_file,"
            " source_line from raw.observations order by all"
        )
        want = expected.with_columns(ingest_partition=pl.col("date").dt.month_start().cast(pl.String)).select(
            landed.columns
        )
        assert landed.height == expected.height == 228 * 21 + 24
        assert landed.equals(want.sort(pl.all()))
        rejected = g.warehouse.query(
            "select ingest_partition, file, line, reason from raw.rejected_rows order by line"
        )
        assert rejected.rows() == [
            ("1990-01-01", "observations/late-fixes.csv", 1, "unparseable date"),
            ("1997-05-01", "observations/late-fixes.csv", 2, "unknown product"),
            ("1999-02-01", "observations/late-fixes.csv", 3, "duplicate"),
        ]


def _dated_landing(root: Path, days: list[date], products: int) -> None:
    """Sales on the given dates (a seasonal level per product), one CSV per year."""
    folder = root / "observations"
    folder.mkdir(parents=True)
    names = [f"P{i}" for i in range(products)]
    pl.DataFrame({"product_id": names, "name": "item", "category": "c"}).write_csv(root / "products.csv")
    rows = (
        pl.DataFrame({"date": days})
        .join(pl.DataFrame({"product_id": names}), how="cross")
        .with_row_index("i")
        .with_columns(
            store_id=pl.lit("S1"),
            price=pl.lit(2.5),
            units_sold=(10 + 5 * (pl.col("date").dt.ordinal_day() / 60).sin() + pl.col("i") % 7).round(),
            on_promo=pl.lit(False),
        )
        .drop("i")
    )
    for (year,), part in rows.group_by(pl.col("date").dt.year()):
        part.write_csv(folder / f"{year}.csv")


def _weeks(first: date, n: int) -> list[date]:
    return [first + timedelta(weeks=i) for i in range(n)]


def test_history_from_the_1980s_needs_no_setting(tmp_path):
    """The partitions start at the landing zone's first month, inferred while the definitions load; a
    start set later than the data makes `make demo` say what to set, in one line."""
    landing = tmp_path / "landing"
    days = _weeks(date(1984, 7, 5), 150)
    _dated_landing(landing, days, 2)
    env = {"FEED": "files", "LANDING_DIR": str(landing)}
    with shelfcast_graph(tmp_path / "home", **env) as g:
        partitions = g.defs.resolve_assets_def("raw_observations").partitions_def
        assert partitions.get_first_partition_key() == "1984-07-01"
        result = g.run_history(asset_selection=[dg.AssetKey("raw_products"), dg.AssetKey("raw_observations")])
        assert result.success
        landed = g.warehouse.query(
            'select min("date") as lo, max("date") as hi, count(*) as n from raw.observations'
        )
        assert landed.row(0) == (days[0], days[-1], 2 * len(days))

    environ = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    environ |= {f"SHELFCAST_{k}": v for k, v in env.items()} | {"SHELFCAST_HOME": str(tmp_path / "home")}
    demo = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli.demo"],
        env={**environ, "SHELFCAST_HISTORY_START": "1990-01-01"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 1
    assert demo.stderr.strip().splitlines()[-1] == (
        "shelfcast demo: the files feed's data start in 1984-07, before the first ingest partition "
        "(1990-01-01): set SHELFCAST_HISTORY_START=1984-07-01"
    )
    assert "Traceback" not in demo.stderr


def test_quarterly_dates_stop_the_demo_before_the_ingest(tmp_path):
    """No grid fits quarterly data: `make demo` says so in one line before it ingests anything (the
    warehouse step used to say it after the whole history had landed)."""
    landing = tmp_path / "landing"
    _dated_landing(
        landing, pl.date_range(date(2001, 1, 1), date(2019, 10, 1), "3mo", eager=True).to_list(), 3
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    environ |= {"SHELFCAST_FEED": "files", "SHELFCAST_LANDING_DIR": str(landing)}
    home = tmp_path / "home"
    demo = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli.demo"],
        env={**environ, "SHELFCAST_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 1 and "Traceback" not in demo.stderr
    assert (
        demo.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "shelfcast demo: cannot infer the frequency: the dates of a series are a median 91 days apart, "
            "quarterly data: shelfcast has no quarterly periods"
        )
    )
    assert demo.stdout == "" and not (home / "logs").exists()  # stopped before the run


MONTH_ENDS = pl.date_range(date(2019, 1, 1), date(2023, 12, 1), "1mo", eager=True).dt.month_end().to_list()


@pytest.mark.parametrize(
    ("days", "freq", "future"),
    [
        (_weeks(date(2022, 1, 6), 110), "W-THU", _weeks(date(2024, 2, 15), 4)),
        (MONTH_ENDS, "ME", [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]),
    ],
)
def test_the_users_dates_are_kept(tmp_path, days, freq, future):
    """Weekly data dated on Thursdays, monthly data on month ends: the marts, the features and the
    forecasts keep the user's dates, and forecast the next periods named the same way. The weeks'
    holidays are counted over the Friday to Thursday each holds (months: tests/test_features.py; on 4
    series x 60 months, holiday features cost the model its narrow lead over seasonal naive)."""
    landing = tmp_path / "landing"
    _dated_landing(landing, days, 4)
    env = {"FEED": "files", "LANDING_DIR": str(landing), "HORIZON": "4"}
    env |= {"HOLIDAYS": "US"} if freq == "W-THU" else {}
    with shelfcast_graph(tmp_path / "home", **env) as g:
        assert g.config.resolved_freq() == freq
        result = g.run_history()
        assert result.success
        assert materialization_metadata(result, "raw_observations")[0]["frequency"] == (
            f"{freq} (inferred from the dates)"
        )
        sales = g.warehouse.query("select distinct period_date from marts.fct_product_sales order by 1")
        assert sales["period_date"].to_list() == days
        features = g.warehouse.query("select distinct period_date from features.training_features")
        assert set(features["period_date"]) <= set(days)
        forecasts = g.warehouse.query("select distinct target_date from marts.forecasts order by 1")
        assert forecasts["target_date"].to_list() == future
        if "HOLIDAYS" in env:
            counted = g.warehouse.query(
                "select distinct period_date, holidays_in_period from features.inference_features"
            )
            us = holidays.country_holidays("US", years=2024)
            week = {d: sum(d - timedelta(days=6) <= day <= d for day in us) for d in future}
            assert dict(counted.rows()) == week and sum(week.values()) == 1  # Presidents' Day


def test_daily_feed_summed_into_weeks_ending_on_thursday(tmp_path):
    """SHELFCAST_FREQ=W-THU on daily data: each week holds the Friday to Thursday that ends on its date."""
    env = {"SYNTH_PRODUCTS": "4", "SYNTH_STORES": "1", "SYNTH_DAYS": "60", "FREQ": "W-THU", "HORIZON": "4"}
    with shelfcast_graph(tmp_path / "home", **env) as g:
        ingest = [
            dg.AssetKey(k) for k in ("raw_products", "raw_suppliers", "raw_observations", "rejected_rows")
        ]
        dbt_models = g.defs.resolve_assets_def("fct_product_sales").keys  # the warehouse models
        assert g.run_history(asset_selection=[*ingest, *dbt_models]).success
        raw = g.warehouse.query(
            'select product_id, "date", units_sold from raw.observations where units_sold is not null'
        )
        thursday = period_date(period_number(pl.col("date"), "W-THU"), "W-THU")
        want = raw.group_by("product_id", thursday.alias("period_date")).agg(pl.col("units_sold").sum())
        got = g.warehouse.query("select product_id, period_date, units_sold from marts.fct_product_sales")
        assert got.sort(pl.all()).equals(want.sort(pl.all()))
        assert set(got["period_date"].dt.weekday()) == {4}  # polars: Monday 1 .. Thursday 4
        # The first week is the Friday the history starts on (2024-11-01) to the Thursday after it.
        assert got["period_date"].min() == date(2024, 11, 7) and raw["date"].min() == date(2024, 11, 1)


def test_a_landing_zone_without_its_catalog_fails_once_saying_so(tmp_path):
    """A missing products.csv is the user's to fix: no retries (2 s + 4 s for nothing), and the demo's
    FAIL line gives the reason, not Dagster's `Exceeded max_retries of 2`."""
    from platform_assets.runner.console import failure_message

    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    (landing / "products.csv").unlink()
    with shelfcast_graph(tmp_path / "home", FEED="files", LANDING_DIR=str(landing)) as g:
        result = g.run("full_refresh", asset_selection=[dg.AssetKey("raw_products")], raise_on_error=False)
    assert not result.success
    events = [e.event_type for e in result.all_events if e.step_key == "raw_products"]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure_message(failure.step_failure_data.error) == (
        f"no products.csv or products.parquet in {landing}: the catalog is required"
    )
