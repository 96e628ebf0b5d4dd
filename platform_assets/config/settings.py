"""The one place that reads `SHELFCAST_*` environment variables.

Values needed while the definitions load (the partition calendar, paths, the warehouse engine) are read
here into `Settings`; every other variable is a field of a settings section (config/sections.py), handed
to the resources as `dg.EnvVar` (config/resources.py), so the UI shows which values came from the
environment.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from platform_assets.feeds.files.manifest import MANIFEST_NAME, landing_start
from platform_assets.storage.databases import MLFLOW_SUFFIX, sibling_database

PREFIX = "SHELFCAST_"
WAREHOUSES = ("duckdb", "postgres")
# How `retrain` runs: in the run's own process, or each step in its own Kubernetes pod (deploy/).
EXECUTORS = ("in_process", "k8s")

# Where each feed's monthly ingest partitions start unless SHELFCAST_HISTORY_START says otherwise:
# synthetic at its first day, tafeng at its data's first month, files at the landing zone's first month
# (`_history_start`), or at this one while the landing zone has no usable date.
FEED_HISTORY_START = {"synthetic": None, "tafeng": "2000-11-01", "files": "2015-01-01"}

# Variables read while the definitions load (name without the prefix: default, what it does); the
# sections' fields document the others (config/variables.py joins both into the README's table).
LOAD_TIME = {
    "HOME": (
        "`./data`",
        "where the embedded warehouse, MLflow store, landing zone, quarantine and Dagster home live",
    ),
    "WAREHOUSE": ("`duckdb`", "the warehouse engine: `duckdb` (embedded file) or `postgres`"),
    "PG_DSN": (
        "unset (Makefile: `postgresql://postgres@127.0.0.1:5432/shelfcast`)",
        "the Postgres warehouse database (required with `postgres`; may carry a password: keep it in a "
        "secret; resources hold the variable's name, so the password is stored nowhere, not even in the "
        "Dagster instance)",
    ),
    "MLFLOW_TRACKING_URI": (
        "`sqlite:///$SHELFCAST_HOME/mlflow.db`; on Postgres `<PG_DSN>_mlflow`",
        "MLflow tracking and registry store (an `http://` MLflow server works too; may carry a password, "
        "read at run time only like `PG_DSN`)",
    ),
    "EXECUTOR": (
        "`in_process`",
        "how `retrain` runs: `in_process`, or `k8s` (each step in its own Kubernetes pod; needs "
        "`SHELFCAST_WAREHOUSE=postgres`, see deploy/README.md)",
    ),
    "HISTORY_START": (
        "per feed",
        "first monthly ingest partition (synthetic: its start; tafeng: 2000-11-01; files: the first month of "
        "the landing zone's dates, read when the definitions load and kept per file in "
        "`$SHELFCAST_HOME/landing_manifest.json`; 2015-01-01 while no file has a usable date)",
    ),
    "DAGSTER_PG_URL": (
        "Makefile: `$SHELFCAST_PG_DSN` + `_dagster`",
        "the Dagster instance's database, read by `deploy/dagster-postgres.yaml` (by Dagster, not by our "
        "code)",
    ),
    "VERBOSE": (
        "`0`",
        "`1`: `make demo` prints every log line (Dagster, dbt, MLflow) instead of one line per step; the "
        "full logs go to `$SHELFCAST_HOME/logs/` either way",
    ),
    "DUCKDB_PATH": (
        "`$SHELFCAST_HOME/warehouse.duckdb`",
        "set for dbt by the warehouse resource; not a user setting",
    ),
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
    verbose: bool = False

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def pg_dsn(self) -> str | None:
        return self.environ.get(f"{PREFIX}PG_DSN")


def landing_path(home: Path, landing_dir: str | None) -> Path:
    """The files feed's landing zone: SHELFCAST_LANDING_DIR, else $SHELFCAST_HOME/landing."""
    return Path(landing_dir) if landing_dir else home / "landing"


def _history_start(feed: str, env: Mapping[str, str], home: Path) -> str:
    """The first month the feed's data can start in, as far as loading the definitions can tell."""
    if feed == "synthetic":
        return env.get(f"{PREFIX}SYNTH_START", "2024-11-01")
    if feed == "files":
        landing = landing_path(home, env.get(f"{PREFIX}LANDING_DIR"))
        first = landing_start(landing, home / MANIFEST_NAME)
        if first is not None:
            return first.replace(day=1).isoformat()
    return FEED_HISTORY_START[feed]


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
    history_start = env.get(f"{PREFIX}HISTORY_START") or _history_start(feed, env, home)
    tracking = env.get(f"{PREFIX}MLFLOW_TRACKING_URI") or (
        sibling_database(env[f"{PREFIX}PG_DSN"], MLFLOW_SUFFIX)
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
    verbose = env.get(f"{PREFIX}VERBOSE", "0").strip().lower() in ("1", "true", "yes")
    return Settings(home, feed, warehouse, history_start, tracking, env, executor, verbose)
