"""Fixtures for graph-level tests: a temporary SHELFCAST_HOME and the real definitions built from it."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.defs.orchestration import partition_range_tags
from platform_assets.runner.history import history_range
from platform_assets.storage.warehouse import Warehouse


@dataclass
class Graph:
    """The definitions for one configuration plus its resolved resources."""

    defs: dg.Definitions
    config: ShelfcastConfig
    warehouse: Warehouse
    mlflow: MLflowResource
    instance: dg.DagsterInstance

    def run(self, job: str, **kwargs) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def(job).execute_in_process(instance=self.instance, **kwargs)

    def run_history(self, **kwargs) -> dg.ExecuteInProcessResult:
        start, end = history_range(self.config)
        return self.run("full_refresh", tags=partition_range_tags(start, end), **kwargs)


@contextmanager
def shelfcast_graph(home: Path, instance: dg.DagsterInstance | None = None, **env: str) -> Iterator[Graph]:
    """Build the definitions with SHELFCAST_* set to `env` only (the rest of the environment cleared),
    run against `instance` (an ephemeral one by default)."""
    from platform_assets.config.settings import load_settings
    from platform_assets.definitions import build_defs

    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("SHELFCAST_")]:
            mp.delenv(var)
        mp.setenv("SHELFCAST_HOME", str(home))
        # Graph tests train many models: no hyperparameter search unless a test asks (test_tuning covers it).
        for key, value in {"TUNE_TRIALS": "0", **env}.items():
            mp.setenv(f"SHELFCAST_{key}", value)
        defs = build_defs(load_settings())
        resolved = {
            k: defs.resources[k].process_config_and_initialize() for k in ("config", "warehouse", "mlflow")
        }
        if instance is not None:
            yield Graph(defs, resolved["config"], resolved["warehouse"], resolved["mlflow"], instance)
            return
        with dg.DagsterInstance.ephemeral() as ephemeral:
            yield Graph(defs, resolved["config"], resolved["warehouse"], resolved["mlflow"], ephemeral)


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> list[dict]:
    """The metadata of each materialization of `asset` in a run, as plain values."""
    return [
        {k: v.value for k, v in e.event_specific_data.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(asset)
    ]


PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """Fresh Postgres databases for this test session (the warehouse's, plus `_dagster` and `_mlflow`
    beside it), dropped afterwards. Outside CI a missing server skips the Postgres tests with the
    reason; in CI (CI set) it fails them."""
    import adbc_driver_postgresql.dbapi as adbc

    from platform_assets.storage.databases import ensure_databases

    dsn = f"postgresql://postgres@127.0.0.1:5432/shelfcast_test_{os.getpid()}"
    try:
        created = ensure_databases(dsn)
    except Exception as exc:  # no server answering: the only case a Postgres test may skip
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Postgres at 127.0.0.1:5432 did not answer ({exc}); CI is unset, so skipping")
    try:
        yield dsn
    finally:
        with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
            for name in created:
                cur.execute(f'drop database if exists "{name}" with (force)')


# A small graph the serving tests share (one full_refresh, ~1 min): its home, the SHELFCAST_* settings it
# ran with and the instance that recorded it. Re-enter `shelfcast_graph(home, instance, **env)` to run more.
SERVING_GRAPH = {
    "SYNTH_PRODUCTS": "12",
    "SYNTH_STORES": "2",
    "SYNTH_DAYS": "240",
    "HORIZON": "7",
    "FRESHNESS_MAX_AGE_DAYS": "100000",
}


@dataclass
class ServedGraph:
    home: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="session")
def served_graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGraph]:
    home = tmp_path_factory.mktemp("serving")
    with dg.DagsterInstance.ephemeral() as instance:
        with shelfcast_graph(home, instance, **SERVING_GRAPH) as g:
            result = g.run_history()
            assert result.success
        yield ServedGraph(home, dict(SERVING_GRAPH), instance, result)
