"""The code location: one lineage graph, raw product feeds to served forecasts."""

import dagster as dg

from platform_assets.defs.features import build_features_defs
from platform_assets.defs.ingest import build_ingest_defs
from platform_assets.defs.landing import build_landing_defs
from platform_assets.defs.ml import build_ml_defs
from platform_assets.defs.monitoring import build_monitoring_defs
from platform_assets.defs.orchestration import build_orchestration_defs
from platform_assets.defs.quality import build_quality_defs
from platform_assets.defs.retraining import build_retraining_defs
from platform_assets.defs.warehouse import build_warehouse_defs
from platform_assets.settings import Settings, build_resources, load_settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions.merge(
        build_ingest_defs(settings),
        build_warehouse_defs(),
        build_features_defs(),
        build_ml_defs(),
        build_quality_defs(),
        build_monitoring_defs(),
        build_orchestration_defs(),
        build_retraining_defs(),
        build_landing_defs(settings),
        # One process per run: DuckDB takes one writer per file, and the steps share it.
        dg.Definitions(resources=build_resources(settings), executor=dg.in_process_executor),
    )


defs = build_defs(load_settings())
