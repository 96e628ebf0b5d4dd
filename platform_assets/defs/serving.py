"""Serving layer: the bundle the API serves, and the API's request log brought into the warehouse.

MLflow, LightGBM and the bundle's modules are imported inside the asset bodies, as in defs/ml.py.
`served_requests` is partitioned by day, the others by month or not at all, and a job's assets share
one partitions definition: it has its own job and schedule, outside full_refresh and daily_refresh.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.defs.features import feature_config, recorded_factors
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.serving.stores import request_store
from platform_assets.storage.postgres_warehouse import PostgresWarehouse
from platform_assets.storage.warehouse import WAREHOUSE_POOL, Warehouse

# The first day the request log can be loaded for (earlier days have no partition).
SERVED_SINCE = "2026-01-01"
served_days = dg.DailyPartitionsDefinition(start_date=SERVED_SINCE, end_offset=1)


@dg.asset(
    group_name="serving",
    deps=["forecasts_latest", "champion_model"],
    kinds={"parquet"},
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
)
def serving_bundle(
    context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse, mlflow: MLflowResource
) -> dg.MaterializeResult:
    """An immutable bundle of what the API serves (newest forecasts, what-if inputs, the champion and
    its evidence, reference profiles) under $SHELFCAST_HOME/serving, made current atomically."""
    from platform_assets.features.store import sales_factors
    from platform_assets.modeling.names import CHAMPION, MODEL_NAME
    from platform_assets.modeling.registry import load_combination
    from platform_assets.serving.champion import champion_evidence
    from platform_assets.serving.publish import publish_bundle

    champion = load_combination(mlflow.tracking_uri, CHAMPION)
    if champion is None:
        raise dg.Failure(
            "no champion model: the API serves only what a vetted model forecast", allow_retries=False
        )
    model, version, run_id = champion
    cfg = feature_config(config)
    factors = recorded_factors(context.instance) or sales_factors(warehouse, cfg)
    published = publish_bundle(
        warehouse,
        config.home_path,
        model,
        champion_evidence(mlflow.tracking_uri, MODEL_NAME, version, run_id),
        factors,
        cfg,
        context.run_id,
        keep=config.serving.serve_bundles_kept,
        reference_periods=config.monitoring.drift_window,
    )
    if not published.check.exact:
        context.log.warning(f"what-if disabled in bundle {published.generation}: {published.check.reason}")
    return dg.MaterializeResult(
        metadata={
            "generation": dg.MetadataValue.text(published.generation),
            "path": dg.MetadataValue.path(str(published.path)),
            "model_version": dg.MetadataValue.text(str(version)),
            "what_if": dg.MetadataValue.bool(published.check.exact),
            "what_if_check": dg.MetadataValue.text(published.check.reason),
            "rows": dg.MetadataValue.json(published.rows),
            "pruned": dg.MetadataValue.json(published.pruned),
        }
    )


@dg.asset(
    group_name="monitoring",
    partitions_def=served_days,
    deps=[serving_bundle],
    kinds={"sqlite", "duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
)
def served_requests(context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse):
    """One day (UTC) of the API's request log (its SQLite file, or `serving.requests` on Postgres) in
    `monitoring.served_requests`, replaced as a whole on every run (idempotent); the API keeps
    writing its log meanwhile."""
    start = datetime.fromisoformat(context.partition_key).replace(tzinfo=UTC)
    pg_dsn = warehouse.dsn if isinstance(warehouse, PostgresWarehouse) else None
    rows = request_store(config.home_path, pg_dsn).read(start, start + timedelta(days=1))
    day = rows.with_columns(pl.lit(start.date()).alias("received_day"))
    warehouse.replace_slice("monitoring", "served_requests", day, {"received_day": start.date()})
    by_status = rows.group_by("status").len().sort("status")
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows.height),
            "by_status": dg.MetadataValue.json({str(k): v for k, v in by_status.iter_rows()}),
        }
    )


served_requests_job = dg.define_asset_job(
    "served_requests_job",
    selection=[served_requests],
    partitions_def=served_days,
    description="Load one day of the API's request log into monitoring.served_requests.",
)


@dg.schedule(
    job=served_requests_job, cron_schedule="15 0 * * *", default_status=dg.DefaultScheduleStatus.STOPPED
)
def served_requests_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Just after midnight UTC: the day that ended."""
    day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"served-{day}", partition_key=day)


def build_serving_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[serving_bundle, served_requests],
        jobs=[served_requests_job],
        schedules=[served_requests_schedule],
    )
