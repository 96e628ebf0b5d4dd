"""Incremental features: rebuilding the tail after new data gives the rows a from-scratch build gives.

Pure level: `build_features_since` on the marts' rows from `lookback_start` on plus `carry_in`, spliced
onto the rows built before the new data, equals `build_features` on all of it, to the bit. SQL level:
the asset's carry-in query equals `carry_in`. Dagster level: a daily refresh after one new day writes
`features.training_features` incrementally and the table equals a from-scratch build on the same marts.
"""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from platform_assets.core.keys import KEYS
from platform_assets.features.build import build_features, build_features_since
from platform_assets.features.config import FeatureConfig
from platform_assets.features.exact import exact_factors
from platform_assets.features.incremental import carry_in, inputs_digest, lookback_start, plan_build
from platform_assets.features.store import CARRY_SQL
from platform_assets.storage.duckdb_warehouse import DuckDBWarehouse
from platform_assets.storage.postgres_warehouse import PostgresWarehouse
from platform_assets.storage.warehouse import AtLeast, Warehouse
from tests.support.frames import make_data
from tests.support.graph import materialization_metadata, shelfcast_graph

ORDER = [*KEYS, "period_date"]
SCHEMA = "incremental_test"


def cents(data: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Prices in whole cents, as feeds deliver them (numpy rounds exactly; make_data's are arbitrary)."""
    rounded = {k: v for k, v in data.items()}
    for name in ("sales", "plans"):
        frame = data[name]
        rounded[name] = frame.with_columns(pl.Series("price", np.round(frame["price"].to_numpy(), 2)))
    return rounded


def long_gaps(data: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """One series without a sale, another without a price, for longer than any lookback: their
    periods_since_sale and future price come from the carried-in state, not from the rows read."""
    sales = data["sales"]
    dates = sales["period_date"].unique().sort()
    recent = pl.col("period_date") > dates[dates.len() // 2]

    def series(product: str, store: str) -> pl.Expr:
        return (pl.col("product_id") == product) & (pl.col("store_id") == store) & recent

    sales = sales.with_columns(
        pl.when(series("p03", "s0")).then(0.0).otherwise("units_sold").alias("units_sold"),
        pl.when(series("p04", "s1")).then(None).otherwise("price").alias("price"),
    )
    plans = data["plans"].filter(~((pl.col("product_id") == "p04") & (pl.col("store_id") == "s1")))
    return {**data, "sales": sales, "plans": plans}


def build(data: dict[str, pl.DataFrame], cfg: FeatureConfig) -> pl.DataFrame:
    return build_features(data["sales"], data["products"], data["plans"], data["series"], cfg)


def incremental(
    data: dict[str, pl.DataFrame], since: date, factors: dict, cfg: FeatureConfig, extra: int = 0
):
    """What the asset does: read from lookback_start(since) (minus `extra` periods' worth of rows, to
    show the lookback is needed), carry the state of the earlier periods in."""
    start = lookback_start(since, cfg)
    if extra:
        dates = data["sales"]["period_date"].unique().sort().to_list()
        start = dates[dates.index(start) + extra]
    sales = data["sales"].filter(pl.col("period_date") >= start)
    carry = carry_in(data["sales"], start)
    return build_features_since(
        sales, data["products"], data["plans"], data["series"], carry, since, factors, cfg
    )


def spliced(before: pl.DataFrame, tail: pl.DataFrame, since: date) -> pl.DataFrame:
    """The table after `replace_slice(period_date >= since)` plus the rebuilt inference rows."""
    history = pl.concat([before.filter(~pl.col("is_future") & (pl.col("period_date") < since)), tail])
    return history.sort(["is_future", *ORDER])


@pytest.mark.parametrize(
    ("freq", "target", "periods", "horizon"),
    [
        ("D", "units_sold", 240, 7),
        ("D", "price", 240, 14),
        ("W", "units_sold", 150, 4),
        ("M", "units_sold", 60, 3),
    ],
)
def test_incremental_after_new_data_equals_from_scratch(freq, target, periods, horizon):
    cfg = FeatureConfig(target=target, horizon=horizon, freq=freq)
    new = long_gaps(cents(make_data(periods=periods, horizon=horizon, freq=freq)))
    dates = new["sales"]["period_date"].unique().sort()
    old_last = dates[-4]  # the old build saw all but the last 3 periods
    old = {**new, "sales": new["sales"].filter(pl.col("period_date") <= old_last)}
    factors = exact_factors(old["sales"], cfg)
    assert None not in factors.values()
    before, scratch = build(old, cfg), build(new, cfg).sort(["is_future", *ORDER])
    # The run touched the new periods, or a whole month before them (a re-landed partition).
    for since in (dates[-3], dates[-3 - 2 * cfg.lookback // 3]):
        tail = incremental(new, since, factors, cfg)
        assert tail.schema == scratch.schema
        assert spliced(before, tail, since).equals(scratch), since


def test_too_short_lookback_changes_rows():
    """The equality above is not vacuous: one period less of lookback gives other rows."""
    cfg = FeatureConfig(horizon=7)
    data = cents(make_data())
    since = data["sales"]["period_date"].max() - timedelta(days=20)
    factors = exact_factors(data["sales"], cfg)
    scratch = build(data, cfg).filter(pl.col("period_date") >= since).sort(["is_future", *ORDER])
    assert incremental(data, since, factors, cfg).sort(["is_future", *ORDER]).equals(scratch)
    assert not incremental(data, since, factors, cfg, extra=1).sort(["is_future", *ORDER]).equals(scratch)


def test_values_without_exact_window_sums_refuse_incremental():
    data = make_data()  # prices with arbitrary decimals
    cfg = FeatureConfig(horizon=7)
    factors = exact_factors(data["sales"], cfg)
    assert factors == {"y": 1, "price": None}
    with pytest.raises(ValueError, match="exact window sums"):
        incremental(data, data["sales"]["period_date"].max(), factors, cfg)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def marts(request, tmp_path_factory) -> tuple[Warehouse, dict[str, pl.DataFrame]]:
    """The sales mart on each engine, in a schema of its own (the Postgres database is the session's)."""
    data = cents(make_data())
    if request.param == "duckdb":
        warehouse = DuckDBWarehouse(path=str(tmp_path_factory.mktemp("marts") / "warehouse.duckdb"))
    else:
        warehouse = PostgresWarehouse(dsn=request.getfixturevalue("pg_dsn"))
    warehouse.replace_table(SCHEMA, "fct_product_sales", data["sales"])
    return warehouse, data


def test_carry_sql_equals_carry_in(marts):
    warehouse, data = marts
    for before in (date(2024, 3, 1), date(2024, 8, 20), date(2023, 1, 1)):
        got = warehouse.query(CARRY_SQL.format(sales=f"{SCHEMA}.fct_product_sales"), [before] * 3)
        want = carry_in(data["sales"], before)
        assert got.cast(want.schema).equals(want), before


def test_replace_slice_at_least(marts):
    warehouse, data = marts
    since = date(2024, 8, 1)
    tail = data["sales"].filter(pl.col("period_date") >= since).with_columns(pl.col("units_sold") + 1)
    warehouse.replace_table(SCHEMA, "t", data["sales"])
    warehouse.replace_slice(SCHEMA, "t", tail, {"period_date": AtLeast(since)})
    got = warehouse.query(f"select * from {SCHEMA}.t order by product_id, store_id, period_date")
    want = pl.concat([data["sales"].filter(pl.col("period_date") < since), tail]).sort(ORDER)
    assert got.equals(want)


def test_plan_build_falls_back_to_full_unless_the_table_is_what_was_recorded():
    cfg = FeatureConfig(horizon=7)
    state = {
        "digest": "d",
        "factors": {"y": 1, "price": 100},
        "rows": 100,
        "history_start": "2024-01-01",
        "history_end": "2024-08-27",
    }
    table = (100, date(2024, 8, 27))
    since, _ = plan_build(date(2024, 8, 1), ["2024-08-01"], state, "d", table, cfg)
    assert since == date(2024, 8, 1)
    # a partition landed since the last build moves the start back to it
    assert plan_build(date(2024, 8, 1), ["2024-06-01"], state, "d", table, cfg)[0] == date(2024, 6, 1)
    # a run starting after the table's end leaves no gap
    assert plan_build(date(2024, 10, 1), [], state, "d", table, cfg)[0] == date(2024, 8, 28)
    for args, why in (
        ((None, [], state, "d", table), "unpartitioned"),
        ((date(2024, 8, 1), None, state, "d", table), "no previous build"),
        ((date(2024, 8, 1), [], state, "other", table), "changed"),
        ((date(2024, 8, 1), [], state, "d", (99, date(2024, 8, 27))), "is not what"),
        ((date(2024, 8, 1), [], state, "d", None), "is not what"),
        ((date(2024, 8, 1), [], {**state, "factors": {"y": None}}, "d", table), "not exact"),
        ((date(2023, 12, 1), [], state, "d", table), "whole history"),
    ):
        since, reason = plan_build(*args, cfg)
        assert since is None and why in reason, (args, reason)
    products = make_data()["products"]
    changed = products.with_columns(
        pl.when(pl.col("product_id") == "p01").then(pl.lit("cat2")).otherwise("category").alias("category")
    )
    assert inputs_digest(products, cfg) != inputs_digest(changed, cfg)
    # a non-numeric attribute is no feature: changing it keeps the rows, so incremental builds go on
    relabelled = products.with_columns(pl.col("attributes").str.replace("red", "green"))
    assert inputs_digest(products, cfg) == inputs_digest(relabelled, cfg)
    reweighed = products.with_columns(
        pl.col("attributes").str.replace('"weight_kg": 0.1', '"weight_kg": 0.2')
    )
    assert inputs_digest(products, cfg) != inputs_digest(reweighed, cfg)
    assert inputs_digest(products, cfg) != inputs_digest(products, FeatureConfig(horizon=8))


SMALL = {"SYNTH_PRODUCTS": "6", "SYNTH_STORES": "2", "HORIZON": "7", "FRESHNESS_MAX_AGE_DAYS": "100000"}
STEPS = ["raw_products", "raw_suppliers", "raw_observations", "rejected_rows", "training_features"]


def test_daily_refresh_writes_features_incrementally(tmp_path):
    """Ingest -> dbt -> features over the history, then one more day as daily_refresh runs it: the
    features step rebuilds the tail only, and the table equals a from-scratch build on the marts."""
    import dagster as dg

    from platform_assets.defs.orchestration import partition_range_tags
    from platform_assets.runner.history import history_range

    def run(g, tags):
        job = g.defs.resolve_implicit_global_asset_job_def()
        selection = dg.AssetSelection.groups("ingest", "warehouse", "features").resolve(
            g.defs.resolve_asset_graph()
        )
        return job.execute_in_process(instance=g.instance, tags=tags, asset_selection=list(selection))

    with dg.DagsterInstance.ephemeral() as instance:
        with shelfcast_graph(tmp_path, instance, SYNTH_DAYS="200", **SMALL) as g:
            assert run(g, partition_range_tags(*history_range(g.config))).success
        with shelfcast_graph(tmp_path, instance, SYNTH_DAYS="201", **SMALL) as g:
            first, last = history_range(g.config)
            new_day = date.fromisoformat(g.config.ingest.synth_start) + timedelta(days=200)
            result = run(g, partition_range_tags(new_day.replace(day=1).isoformat(), last))
            assert result.success
            [meta] = materialization_metadata(result, "training_features")
            assert meta["mode"] == "incremental", meta["build_reason"]
            sort = "order by product_id, store_id, period_date"
            marts = {
                "sales": g.warehouse.query(f"select * from marts.fct_product_sales {sort}"),
                "products": g.warehouse.query("select * from marts.dim_product order by product_id"),
                "plans": g.warehouse.query(f"select * from marts.fct_price_plans {sort}"),
                "series": g.warehouse.query("select * from marts.dim_series order by product_id, store_id"),
            }
            scratch = build(marts, FeatureConfig(horizon=7))
            table = g.warehouse.query(f"select * from features.training_features {sort}")
            future = g.warehouse.query(f"select * from features.inference_features {sort}")
            assert table.equals(scratch.filter(~pl.col("is_future")))
            assert future.equals(scratch.filter("is_future"))
            assert meta["rows_written"] < table.height // 4
