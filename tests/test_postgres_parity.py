"""The same graph on Postgres (warehouse, Dagster instance and MLflow all on the server) gives the
same marts and the same forecasts as on DuckDB, for the same synthetic seed."""

from collections.abc import Iterator

import dagster as dg
import pytest
from polars.testing import assert_frame_equal

from platform_assets.storage.databases import sibling_database
from tests.support.graph import TINY_GRAPH, Graph, shelfcast_graph

ENV = {
    **TINY_GRAPH,
    # Below the ~2,900 eligible rows: the fits sample series and trained_model reads the planned rows
    # by key (modeling/rows.training_rows), on both engines.
    "MAX_FIT_ROWS": "1500",
}
# Table -> the key that orders it; every column is compared.
MARTS = {
    "marts.dim_product": "product_id",
    "marts.dim_series": "product_id, store_id",
    "marts.fct_product_sales": "product_id, store_id, period_date",
    "marts.fct_price_plans": "product_id, store_id, period_date",
    "features.training_features": "product_id, store_id, period_date",
}
FORECAST_COLUMNS = "product_id, store_id, target_date, horizon, p10, p50, p90, method, model_version"


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[tuple[Graph, Graph]]:
    with shelfcast_graph(tmp_path_factory.mktemp("duck"), **ENV) as duck:
        assert duck.run_history().success
        overrides = {"storage": {"postgres": {"postgres_url": sibling_database(pg_dsn, "dagster")}}}
        with dg.instance_for_test(overrides=overrides) as instance:
            env = {**ENV, "WAREHOUSE": "postgres", "PG_DSN": pg_dsn}
            with shelfcast_graph(tmp_path_factory.mktemp("pg"), instance=instance, **env) as pg:
                assert pg.run_history().success
                yield duck, pg


def test_all_three_stores_are_on_postgres(graphs, pg_dsn):
    _, pg = graphs
    assert pg.mlflow.tracking_uri == sibling_database(pg_dsn, "mlflow")
    assert type(pg.instance.run_storage).__name__ == "PostgresRunStorage"
    assert pg.warehouse.query("select count(*) from marts.forecasts_latest").item() > 0


@pytest.mark.parametrize("table", MARTS)
def test_marts_match(graphs, table):
    duck, pg = graphs
    sql = f"select * from {table} order by {MARTS[table]}"
    left, right = duck.warehouse.query(sql), pg.warehouse.query(sql)
    assert left.height > 0
    # Integer widths differ by engine (DuckDB keeps int8, Postgres has no 1-byte int): values must not.
    assert_frame_equal(left, right.select(left.columns), check_dtypes=False, rel_tol=1e-9, abs_tol=1e-9)


def test_forecasts_match(graphs):
    duck, pg = graphs
    sql = f"select {FORECAST_COLUMNS} from marts.forecasts_latest order by product_id, store_id, target_date"
    left, right = duck.warehouse.query(sql), pg.warehouse.query(sql)
    assert left.height > 0
    assert_frame_equal(left, right, check_dtypes=False, rel_tol=1e-6, abs_tol=1e-9)


def test_serving_bundle_from_postgres_reproduces_its_forecasts(graphs):
    """The bundle read from Postgres rebuilds its feature rows exactly: a what-if with no change is the
    stored forecast, and the profiles are numbers (Postgres averages are numeric) the checks compare."""
    from platform_assets.serving.bundle import current_generation
    from platform_assets.serving.layout import serving_root
    from platform_assets.serving.loaded import load_bundle
    from platform_assets.serving.scenario import Change, SeriesPlan, run_scenario

    _, pg = graphs
    root = serving_root(pg.config.home_path)
    bundle = load_bundle(root, current_generation(root))
    assert bundle.what_if["available"] is True
    keys = (
        bundle.forecasts.select("product_id", "store_id").unique().sort("product_id", "store_id").rows()[:3]
    )
    unchanged = run_scenario(bundle, [SeriesPlan(p, s) for p, s in keys]).rows
    assert unchanged["p50"].to_list() == unchanged["p50_baseline"].to_list()
    cut = run_scenario(bundle, [SeriesPlan(p, s, (Change(price=0.01),)) for p, s in keys])
    assert "price_cut_without_promo" in cut.outliers and "price_below_history" in cut.outliers
