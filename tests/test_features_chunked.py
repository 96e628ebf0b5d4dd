"""The features asset's full build, chunk by chunk on each engine: the tables and the metadata it records
equal those of one build over all the marts (the pure equality is in tests/test_features.py)."""

from collections.abc import Iterator
from urllib.parse import urlparse

import polars as pl
import pytest

from platform_assets.core.keys import KEYS
from platform_assets.features.config import FeatureConfig
from platform_assets.features.digest import frame_digest
from platform_assets.features.exact import exact_factors
from platform_assets.features.store import full_build
from platform_assets.storage.databases import COLLATION, sibling_database
from platform_assets.storage.duckdb_warehouse import DuckDBWarehouse
from platform_assets.storage.postgres_warehouse import PostgresWarehouse
from platform_assets.storage.warehouse import Warehouse
from tests.support.frames import chunkable, features_for, make_data
from tests.support.postgres import PG_SERVER

ORDER = "order by product_id, store_id, period_date"
MARTS = {
    "sales": "fct_product_sales",
    "products": "dim_product",
    "plans": "fct_price_plans",
    "series": "dim_series",
}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse(request, tmp_path_factory) -> Iterator[Warehouse]:
    """An empty warehouse; on Postgres a database of its own, since the build reads the `marts` schema."""
    if request.param == "duckdb":
        yield DuckDBWarehouse(path=str(tmp_path_factory.mktemp("chunked") / "warehouse.duckdb"))
        return
    import adbc_driver_postgresql.dbapi as adbc

    dsn = sibling_database(request.getfixturevalue("pg_dsn"), "chunked")
    name = urlparse(dsn).path.lstrip("/")
    with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
        cur.execute(f'create database "{name}" {COLLATION}')
    try:
        yield PostgresWarehouse(dsn=dsn)
    finally:
        with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')


@pytest.mark.parametrize("max_rows", [1000, 10**9])
def test_full_build_in_chunks_writes_the_whole_builds_rows(warehouse, max_rows):
    data = chunkable(make_data())
    for key, table in MARTS.items():
        warehouse.replace_table("marts", table, data[key])
    cfg = FeatureConfig(horizon=7)
    whole = features_for(data, cfg)
    history, future = whole.filter(~pl.col("is_future")), whole.filter("is_future")

    built = full_build(warehouse, data["products"], data["plans"], data["series"], cfg, max_rows)

    table = warehouse.query(f"select * from features.training_features {ORDER}")
    assert table.cast(history.schema).equals(history)  # Postgres has no 1-byte integers: cast back
    assert built.future.equals(future)
    assert built.chunks >= 3 if max_rows == 1000 else built.chunks == 1
    assert built.written.digest == frame_digest(history)
    assert (built.written.rows, built.series) == (history.height, history.select(KEYS).n_unique())
    assert built.factors == exact_factors(data["sales"], cfg)
    assert built.history_start == data["sales"]["period_date"].min().isoformat()
