"""The one place that reads `SHELFCAST_*` environment variables.

Values needed while the definitions load (the partition calendar, paths) are read here; everything
else is handed to resources as `dg.EnvVar`, so the UI shows which values came from the environment.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.storage.postgres_warehouse import PostgresWarehouse
from platform_assets.storage.warehouse import DuckDBWarehouse, Warehouse

PREFIX = "SHELFCAST_"
WAREHOUSES = ("duckdb", "postgres")
# How `retrain` runs: in the run's own process, or each step in its own Kubernetes pod (deploy/).
EXECUTORS = ("in_process", "k8s")

# Where each feed's monthly ingest partitions start unless SHELFCAST_HISTORY_START says otherwise.
FEED_HISTORY_START = {"synthetic": None, "tafeng": "2000-11-01", "files": "2015-01-01"}

# Resource fields filled from the environment when the variable is set: field -> (variable, type).
_CONFIG_FIELDS: dict[str, tuple[str, type]] = {
    "feed": ("FEED", str),
    "landing_dir": ("LANDING_DIR", str),
    "freq": ("FREQ", str),
    "target": ("TARGET", str),
    "horizon": ("HORIZON", int),
    "active_window": ("ACTIVE_WINDOW", int),
    "synth_products": ("SYNTH_PRODUCTS", int),
    "synth_stores": ("SYNTH_STORES", int),
    "synth_days": ("SYNTH_DAYS", int),
    "synth_start": ("SYNTH_START", str),
    "synth_seed": ("SYNTH_SEED", int),
    "synth_drift_from": ("SYNTH_DRIFT_FROM", str),
    "synth_drift_kind": ("SYNTH_DRIFT_KIND", str),
    "tafeng_max_products": ("TAFENG_MAX_PRODUCTS", int),
    "rejected_rate_warn": ("REJECTED_RATE_WARN", float),
    "rejected_rate_error": ("REJECTED_RATE_ERROR", float),
    "freshness_max_age_days": ("FRESHNESS_MAX_AGE_DAYS", int),
    "drift_window": ("DRIFT_WINDOW", int),
    "drift_share": ("DRIFT_SHARE", float),
    "decay_factor": ("DECAY_FACTOR", float),
    "retrain_cooldown_hours": ("RETRAIN_COOLDOWN_HOURS", float),
    "tune_trials": ("TUNE_TRIALS", int),
    "max_fit_rows": ("MAX_FIT_ROWS", int),
}


@dataclass(frozen=True)
class Settings:
    """Load-time settings: what decides the shape of the definitions themselves."""

    home: Path
    feed: str
    warehouse: str
    history_start: str
    mlflow_tracking_uri: str
    environ: Mapping[str, str]
    executor: str = "in_process"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def pg_dsn(self) -> str | None:
        return self.environ.get(f"{PREFIX}PG_DSN")


def sibling_database(dsn: str, suffix: str) -> str:
    """The DSN of `<database>_<suffix>` on the same server: MLflow and Dagster each need their own
    database (both have a `runs` table)."""
    url = urlparse(dsn)
    return url._replace(path=f"{url.path.rstrip('/') or '/postgres'}_{suffix}").geturl()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get(f"{PREFIX}HOME", "data")).resolve()
    feed = env.get(f"{PREFIX}FEED", "synthetic")
    if feed not in FEED_HISTORY_START:
        raise ValueError(f"{PREFIX}FEED={feed!r}: expected one of {sorted(FEED_HISTORY_START)}")
    warehouse = env.get(f"{PREFIX}WAREHOUSE", "duckdb")
    if warehouse not in WAREHOUSES:
        raise ValueError(f"{PREFIX}WAREHOUSE={warehouse!r}: expected one of {WAREHOUSES}")
    if warehouse == "postgres" and not env.get(f"{PREFIX}PG_DSN"):
        raise ValueError(
            f"{PREFIX}WAREHOUSE=postgres needs {PREFIX}PG_DSN, e.g. postgresql://user@host:5432/shelfcast"
        )
    default_start = FEED_HISTORY_START[feed] or env.get(f"{PREFIX}SYNTH_START", "2024-11-01")
    history_start = env.get(f"{PREFIX}HISTORY_START", default_start)
    tracking = env.get(f"{PREFIX}MLFLOW_TRACKING_URI") or (
        sibling_database(env[f"{PREFIX}PG_DSN"], "mlflow")
        if warehouse == "postgres"
        else f"sqlite:///{home / 'mlflow.db'}"
    )
    executor = env.get(f"{PREFIX}EXECUTOR", "in_process")
    if executor not in EXECUTORS:
        raise ValueError(f"{PREFIX}EXECUTOR={executor!r}: expected one of {EXECUTORS}")
    if executor == "k8s" and warehouse != "postgres":  # step pods share no filesystem
        raise ValueError(
            f"{PREFIX}EXECUTOR=k8s needs {PREFIX}WAREHOUSE=postgres: a DuckDB file takes one writer"
        )
    return Settings(home, feed, warehouse, history_start, tracking, env, executor)


def _from_env(settings: Settings, var: str, kind: type) -> dg.EnvVar | float | None:
    name = f"{PREFIX}{var}"
    if name not in settings.environ:
        return None
    if kind is float:  # Dagster has no float EnvVar: the value is read here, once
        return float(settings.environ[name])
    return dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)


def _warehouse(settings: Settings) -> Warehouse:
    if settings.warehouse == "postgres":  # the DSN may hold a password: resolved at run time only
        return PostgresWarehouse(dsn=dg.EnvVar(f"{PREFIX}PG_DSN"))
    return DuckDBWarehouse(path=str(settings.warehouse_path))


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources for the chosen warehouse; the dbt resource is added by the warehouse layer."""
    fields = {
        field: value
        for field, (var, kind) in _CONFIG_FIELDS.items()
        if (value := _from_env(settings, var, kind)) is not None
    }
    return {
        "config": ShelfcastConfig(home=str(settings.home), **fields),
        "warehouse": _warehouse(settings),
        "mlflow": MLflowResource(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=(settings.home / "mlartifacts").as_uri(),
        ),
    }
