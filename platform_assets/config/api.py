"""The API process's settings: `SHELFCAST_HOME`, the warehouse's Postgres DSN (the keys and request log
live there on Postgres) and the serving section, from the same variables the graph reads (the API runs
outside Dagster, so the section's values are read here, not as EnvVars)."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from platform_assets.config.sections import ServingSettings
from platform_assets.config.settings import PREFIX, load_settings


@dataclass(frozen=True)
class ApiConfig:
    home: Path
    serving: ServingSettings
    pg_dsn: str | None = None  # set when SHELFCAST_WAREHOUSE=postgres


def api_config(environ: Mapping[str, str] | None = None) -> ApiConfig:
    env = dict(os.environ if environ is None else environ)
    values = {
        field: env[f"{PREFIX}{field.upper()}"]
        for field in ServingSettings.model_fields
        if f"{PREFIX}{field.upper()}" in env
    }
    settings = load_settings(env)
    pg_dsn = settings.pg_dsn if settings.warehouse == "postgres" else None
    return ApiConfig(home=settings.home, serving=ServingSettings(**values), pg_dsn=pg_dsn)
