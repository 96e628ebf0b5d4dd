"""The Dagster resources every asset asks for, built once from the environment (`build_resources`)."""

from pathlib import Path
from typing import get_args

import dagster as dg
from pydantic import Field

from platform_assets.config.sections import (
    SECTIONS,
    ForecastSettings,
    IngestSettings,
    MonitoringSettings,
    ServingSettings,
)
from platform_assets.config.settings import PREFIX, Settings, landing_path
from platform_assets.feeds import Feed, make_feed
from platform_assets.storage.databases import MLFLOW_SUFFIX, sibling_database
from platform_assets.storage.duckdb_warehouse import DuckDBWarehouse
from platform_assets.storage.postgres_warehouse import PostgresWarehouse
from platform_assets.storage.warehouse import Warehouse


class ShelfcastConfig(dg.ConfigurableResource):
    """shelfcast's settings by concern (config/sections.py); see the README's configuration table."""

    home: str = Field(
        "data", description="where the embedded warehouse, MLflow store, landing zone, ... live"
    )
    ingest: IngestSettings = IngestSettings()
    forecasting: ForecastSettings = ForecastSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    serving: ServingSettings = ServingSettings()

    @property
    def home_path(self) -> Path:
        return Path(self.home).resolve()

    @property
    def landing_path(self) -> Path:
        return landing_path(self.home_path, self.ingest.landing_dir)

    @property
    def quarantine_dir(self) -> Path:
        return self.home_path / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.home_path / "reports"

    def resolved_freq(self) -> str:
        """The configured period (in its canonical name), else the one the feed infers from its data."""
        return self.make_feed().freq

    def make_feed(self) -> Feed:
        return make_feed(
            self.ingest.feed,
            landing_dir=str(self.landing_path),
            freq=self.ingest.freq,
            synth=self.ingest.synth_config(self.forecasting.horizon),
            quarantine_dir=str(self.quarantine_dir),
            tafeng_max_products=self.ingest.tafeng_max_products,
            date_bounds=self.ingest.date_bounds(self.forecasting.horizon, self.forecasting.target),
            target=self.forecasting.target,
        )


class MLflowResource(dg.ConfigurableResource):
    """Where runs and registered models live: sqlite + a local artifact root by default.

    A tracking URI may carry a password (an `http://user:pass@` server, or the Postgres DSN MLflow's
    database is derived from): `uri` is then an `EnvVar`, resolved only in the process that uses it,
    so the definitions' snapshot in the Dagster instance holds the variable's name, never its value."""

    uri: str = Field(description="the tracking URI, or the Postgres DSN `database_suffix` is applied to")
    database_suffix: str = Field(
        "", description="non-empty: MLflow's store is the database `<uri's database>_<suffix>` beside it"
    )
    artifact_root: str

    @property
    def tracking_uri(self) -> str:
        return sibling_database(self.uri, self.database_suffix) if self.database_suffix else self.uri


def _from_env(settings: Settings, field: str, annotation: object) -> dg.EnvVar | float | bool | None:
    """`SHELFCAST_<FIELD>` as the field's value: an EnvVar (the UI shows where it came from), or None."""
    name = f"{PREFIX}{field.upper()}"
    if name not in settings.environ:
        return None
    kind = next((t for t in (bool, int, float) if annotation is t or t in get_args(annotation)), str)
    if kind is float:  # Dagster has no float or bool EnvVar: the value is read here, once
        return float(settings.environ[name])
    if kind is bool:
        return _flag(name, settings.environ[name])
    return dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)


def _flag(name: str, value: str) -> bool:
    """true/false, 1/0, yes/no, on/off in any case; anything else fails in one line naming the variable."""
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"{name}={value!r}: expected true or false")


def _section(settings: Settings, section: type[dg.Config]) -> dg.Config:
    values = {
        field: value
        for field, info in section.model_fields.items()
        if (value := _from_env(settings, field, info.annotation)) is not None
    }
    return section(**values)


def _warehouse(settings: Settings) -> Warehouse:
    if settings.warehouse == "postgres":  # the DSN may hold a password: resolved at run time only
        return PostgresWarehouse(dsn=dg.EnvVar(f"{PREFIX}PG_DSN"))
    return DuckDBWarehouse(path=str(settings.warehouse_path))


def _mlflow(settings: Settings) -> MLflowResource:
    """MLflow's store as the environment names it: a variable's name where the URI may hold a password."""
    artifact_root = (settings.home / "mlartifacts").as_uri()
    if f"{PREFIX}MLFLOW_TRACKING_URI" in settings.environ:
        return MLflowResource(uri=dg.EnvVar(f"{PREFIX}MLFLOW_TRACKING_URI"), artifact_root=artifact_root)
    if settings.warehouse == "postgres":
        return MLflowResource(
            uri=dg.EnvVar(f"{PREFIX}PG_DSN"), database_suffix=MLFLOW_SUFFIX, artifact_root=artifact_root
        )
    return MLflowResource(uri=settings.mlflow_tracking_uri, artifact_root=artifact_root)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources for the chosen warehouse; the dbt resource is added by the warehouse layer."""
    sections = {name: _section(settings, section) for name, section in SECTIONS.items()}
    return {
        "config": ShelfcastConfig(home=str(settings.home), **sections),
        "warehouse": _warehouse(settings),
        "mlflow": _mlflow(settings),
    }
