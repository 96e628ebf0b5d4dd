"""Live monitoring of served requests in the graph: the API's request windows (merged over replicas,
serving/windowstore.py) loaded per day into `monitoring.request_windows`, the `request_drift` check
over the newest windows, and a sensor that runs them when requests drift or fail for several windows
in a row (the check's WARN is the signal, not a failed run)."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.defs.serving import served_days
from platform_assets.monitoring.rendering import markdown_table
from platform_assets.monitoring.request_alerts import AlertRules, RequestAlert, request_alert
from platform_assets.serving.windowstore import recent_windows
from platform_assets.storage.postgres_warehouse import PostgresWarehouse
from platform_assets.storage.warehouse import WAREHOUSE_POOL, Warehouse

RECENT = timedelta(hours=1)


def _rules(config: ShelfcastConfig) -> AlertRules:
    return AlertRules(config.serving.serve_alert_windows, config.serving.serve_alert_error_rate)


def _pg_dsn(warehouse: Warehouse) -> str | None:
    """The API's stores live in the warehouse database when it is Postgres (serving/stores.py)."""
    return warehouse.dsn if isinstance(warehouse, PostgresWarehouse) else None


def _recent_alert(config: ShelfcastConfig, warehouse: Warehouse) -> RequestAlert:
    rows = recent_windows(config.home_path, _pg_dsn(warehouse), datetime.now(UTC) - RECENT)
    return request_alert(rows, _rules(config))


@dg.asset(
    group_name="monitoring",
    partitions_def=served_days,
    deps=["serving_bundle"],
    kinds={"sqlite", "duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            "request_drift",
            asset="request_windows",
            description="Whether the newest SHELFCAST_SERVE_ALERT_WINDOWS request windows in a row drifted "
            "(what-if inputs against the reference) or all had an error-rate spike",
        )
    ],
)
def request_windows(context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse):
    """One day (UTC) of final request windows (one row per window x statistic x label) in
    `monitoring.request_windows`, replaced as a whole (a re-run never double-counts a window)."""
    start = datetime.fromisoformat(context.partition_key).replace(tzinfo=UTC)
    rows = recent_windows(config.home_path, _pg_dsn(warehouse), start).filter(
        pl.col("final"), pl.col("window_start") < start + timedelta(days=1)
    )
    day = rows.with_columns(pl.lit(start.date()).alias("window_day"))
    warehouse.replace_slice("monitoring", "request_windows", day, {"window_day": start.date()})
    alert = _recent_alert(config, warehouse)
    last_hour = alert.table.tail(240).with_columns(pl.col("window_start").dt.strftime("%H:%M:%S"))
    yield dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows.height),
            "windows": dg.MetadataValue.int(rows["window_start"].n_unique()),
            "last_hour": dg.MetadataValue.md(markdown_table(last_hour.tail(40))),
        }
    )
    yield dg.AssetCheckResult(
        passed=not alert.alarm,
        severity=dg.AssetCheckSeverity.WARN,
        description=alert.summary,
        metadata={"drift": alert.drift, "errors": alert.errors, "newest_window": alert.newest or ""},
    )


request_windows_job = dg.define_asset_job(
    "request_windows_job",
    selection=[request_windows],
    partitions_def=served_days,
    description="Load a day of the API's request windows and check the newest for drift and errors.",
)


@dg.sensor(
    job=request_windows_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs request_windows (and its request_drift check) when the API's newest request windows "
    "show sustained what-if input drift or an error-rate spike, once per newest window.",
)
def request_drift_sensor(context: dg.SensorEvaluationContext, config: ShelfcastConfig, warehouse: Warehouse):
    alert = _recent_alert(config, warehouse)
    if not alert.alarm:
        return dg.SkipReason(alert.summary)
    if alert.newest == context.cursor:
        return dg.SkipReason(f"already reported: {alert.summary}")
    context.update_cursor(alert.newest)
    context.log.warning(alert.summary)
    return dg.RunRequest(run_key=f"request-drift-{alert.newest}", partition_key=alert.newest[:10])


def build_live_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[request_windows], jobs=[request_windows_job], sensors=[request_drift_sensor]
    )
