"""The same graph on Postgres (warehouse, Dagster instance and MLflow all on the server) gives the
same marts and the same forecasts as on DuckDB, for the same synthetic seed. It runs as a login role
whose password is in every DSN, the way a deployment configures it: the password must be nowhere at
rest afterwards (instance, warehouse, MLflow's store, logs, SHELFCAST_HOME)."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest
from polars.testing import assert_frame_equal

from platform_assets.storage.databases import ensure_databases, sibling_database
from platform_assets.storage.dbt_project import DBT_PROJECT_DIR
from tests.support.graph import TINY_GRAPH, Graph, shelfcast_graph
from tests.support.postgres import password_role, tables_containing

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


# A password no file or table may hold after the run (random: nothing else can contain it by chance).
CANARY = f"s3cr3t-canary-{secrets.token_hex(6)}"


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """This process's stdout and stderr (Dagster's console log, dbt's output) into `path`: the file
    descriptors, and the `sys` streams pytest replaces."""
    saved = [os.dup(fd) for fd in (1, 2)]
    with path.open("w") as sink, redirect_stdout(sink), redirect_stderr(sink):
        for fd in (1, 2):
            os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            sink.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


@pytest.fixture(scope="module")
def secret_dsn(pg_dsn: str) -> Iterator[str]:
    """The warehouse's DSN for a role with a password (its `_dagster` and `_mlflow` databases beside it,
    created by that role, as `make instance` does)."""
    role = f"shelfcast_canary_{os.getpid()}"
    with password_role(role, CANARY):
        url = urlparse(sibling_database(pg_dsn, "secret"))
        dsn = url._replace(netloc=f"{role}:{CANARY}@{url.hostname}:{url.port}").geturl()
        ensure_databases(dsn)
        yield dsn


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory, secret_dsn: str) -> Iterator[tuple[Graph, Graph]]:
    with shelfcast_graph(tmp_path_factory.mktemp("duck"), **ENV) as duck:
        assert duck.run_history().success
        # The instance reads its URL from the environment, as deploy/dagster-postgres.yaml has it.
        overrides = {"storage": {"postgres": {"postgres_url": {"env": "SHELFCAST_DAGSTER_PG_URL"}}}}
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SHELFCAST_DAGSTER_PG_URL", sibling_database(secret_dsn, "dagster"))
            with dg.instance_for_test(overrides=overrides) as instance:
                env = {**ENV, "WAREHOUSE": "postgres", "PG_DSN": secret_dsn}
                home = tmp_path_factory.mktemp("pg")
                with shelfcast_graph(home, instance=instance, **env) as pg:
                    with output_to(home / "run-output.log"):  # the logs, grepped below
                        assert pg.run_history().success
                    yield duck, pg


def test_all_three_stores_are_on_postgres(graphs, secret_dsn):
    _, pg = graphs
    assert pg.mlflow.tracking_uri == sibling_database(secret_dsn, "mlflow")
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
    assert {"price_cut_without_promo", "price_below_history"} <= set(cut.scores.kinds)


def files_containing(root: Path, needle: str) -> list[str]:
    """Every file under `root` whose bytes hold `needle`."""
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_no_password_at_rest(graphs, secret_dsn):
    """A full run with the password in the DSN leaves it in no database, file or log: the resources
    hold the variables' names (dg.EnvVar), resolved in the run's process only."""
    _, pg = graphs
    assert CANARY in secret_dsn and pg.instance.get_runs()  # the run happened, with the password
    databases = [secret_dsn, sibling_database(secret_dsn, "dagster"), sibling_database(secret_dsn, "mlflow")]
    assert {db.rsplit("/", 1)[1]: tables_containing(db, CANARY) for db in databases} == {
        db.rsplit("/", 1)[1]: [] for db in databases
    }
    # What the snapshot holds instead: the variable's name (and the scan reads compressed snapshots).
    assert "public.snapshots.snapshot_body" in tables_containing(databases[1], "SHELFCAST_PG_DSN")
    home = pg.config.home_path
    roots = [home, Path(pg.instance.root_directory), DBT_PROJECT_DIR / "target", DBT_PROJECT_DIR / "logs"]
    assert "RUN_SUCCESS" in (home / "run-output.log").read_text()  # the console log was captured
    assert [f for root in roots if root.exists() for f in files_containing(root, CANARY)] == []
