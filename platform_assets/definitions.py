"""The code location: one lineage graph, raw product feeds to served forecasts."""

from collections.abc import Callable

import dagster as dg

from platform_assets.config.resources import build_resources
from platform_assets.config.settings import Settings, load_settings
from platform_assets.defs.features import build_features_defs
from platform_assets.defs.ingest import build_ingest_defs
from platform_assets.defs.landing import build_landing_defs
from platform_assets.defs.live import build_live_defs
from platform_assets.defs.ml import build_ml_defs
from platform_assets.defs.monitoring import build_monitoring_defs
from platform_assets.defs.orchestration import build_orchestration_defs
from platform_assets.defs.quality import build_quality_defs
from platform_assets.defs.recovery import build_recovery_defs
from platform_assets.defs.retraining import build_retraining_defs
from platform_assets.defs.serving import build_serving_defs
from platform_assets.defs.warehouse import build_warehouse_defs
from platform_assets.storage.warehouse import ENGINE_KINDS


def _default_executor(settings: Settings) -> dg.ExecutorDefinition:
    """The executor of jobs without their own (`retrain`, ad hoc materializations): one process per run
    by default, since DuckDB takes one writer per file and the steps share it; with
    SHELFCAST_EXECUTOR=k8s (Postgres warehouse) each step gets its own pod. `full_refresh` and
    `daily_refresh` always run in one process."""
    if settings.executor == "k8s":
        from dagster_k8s import k8s_job_executor  # only deployments pay for the Kubernetes client

        return k8s_job_executor
    return dg.in_process_executor


def _engine_kinds(settings: Settings) -> Callable[[dg.AssetSpec], dg.AssetSpec]:
    """Assets that write the warehouse (and dbt's models, whose manifest names one adapter) show the
    engine this deployment writes."""

    def shown(spec: dg.AssetSpec) -> dg.AssetSpec:
        if not spec.kinds & ENGINE_KINDS:
            return spec
        return spec.replace_attributes(kinds={*(spec.kinds - ENGINE_KINDS), settings.warehouse})

    return shown


def build_defs(settings: Settings) -> dg.Definitions:
    merged = dg.Definitions.merge(
        build_ingest_defs(settings),
        build_warehouse_defs(settings),
        build_features_defs(),
        build_ml_defs(),
        build_quality_defs(),
        build_monitoring_defs(),
        build_orchestration_defs(),
        build_retraining_defs(),
        build_recovery_defs(),
        build_landing_defs(settings),
        build_serving_defs(),
        build_live_defs(),
        dg.Definitions(resources=build_resources(settings), executor=_default_executor(settings)),
    )
    return dg.Definitions(
        assets=dg.map_asset_specs(_engine_kinds(settings), merged.assets or []),
        asset_checks=merged.asset_checks,
        jobs=merged.jobs,
        schedules=merged.schedules,
        sensors=merged.sensors,
        resources=merged.resources,
        executor=merged.executor,
    )


defs = build_defs(load_settings())
