"""The API process's settings: `SHELFCAST_HOME` and the serving section, from the same variables the
graph reads (the API runs outside Dagster, so the section's values are read here, not as EnvVars)."""

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


def api_config(environ: Mapping[str, str] | None = None) -> ApiConfig:
    env = dict(os.environ if environ is None else environ)
    values = {
        field: env[f"{PREFIX}{field.upper()}"]
        for field in ServingSettings.model_fields
        if f"{PREFIX}{field.upper()}" in env
    }
    return ApiConfig(home=load_settings(env).home, serving=ServingSettings(**values))
