"""The real definitions built on a temporary SHELFCAST_HOME, for tests that run the Dagster graph."""

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.defs.orchestration import partition_range_tags
from platform_assets.runner.history import history_range
from platform_assets.storage.warehouse import Warehouse

# A synthetic feed small enough for a graph test (24 series, 240 days). Its history ends long before
# today: freshness is tested on its own, not against the clock.
SMALL_GRAPH = {
    "SYNTH_PRODUCTS": "12",
    "SYNTH_STORES": "2",
    "SYNTH_DAYS": "240",
    "HORIZON": "7",
    "FRESHNESS_MAX_AGE_DAYS": "100000",
}
# Smaller still (16 series, 200 days), for tests that build the graph twice or in several processes.
TINY_GRAPH = {**SMALL_GRAPH, "SYNTH_PRODUCTS": "8", "SYNTH_DAYS": "200"}


MLFLOW_DB = "mlflow.db"  # where the settings put MLflow's SQLite store: $SHELFCAST_HOME/mlflow.db


@cache
def _mlflow_schema() -> Path:
    """An empty MLflow store, its schema created once per session by MLflow itself. A new store runs
    some 70 Alembic migrations, each committed to disk: seconds of mostly fsync per home under load."""
    from mlflow import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="shelfcast-mlflow-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    MlflowClient(f"sqlite:///{folder / MLFLOW_DB}").search_experiments()
    return folder / MLFLOW_DB


def seed_mlflow(home: Path) -> None:
    """Give a new home that empty store. MLflow still creates one from nothing each session (the
    template), and the tests of a fresh home's first run (the demos, the Postgres store) keep theirs."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / MLFLOW_DB).exists():
        shutil.copyfile(_mlflow_schema(), home / MLFLOW_DB)


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
        settings = load_settings()
        if settings.mlflow_tracking_uri == f"sqlite:///{home / MLFLOW_DB}":
            seed_mlflow(home)
        defs = build_defs(settings)
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


@dataclass
class ServedGraph:
    """A finished graph run the serving tests read: its home, the SHELFCAST_* settings it ran with and
    the instance that recorded it (re-enter `shelfcast_graph(home, instance, **env)` to run more)."""

    home: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult
