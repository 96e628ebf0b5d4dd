"""Jobs and schedules: the daily refresh and the retrain, both stopped by default in dev."""

from datetime import date

import dagster as dg

FORECAST_SERVING = ["forecasts", "forecasts_latest", "serving_bundle"]
# Partitioned by day, with a job of their own (defs/serving.py, defs/live.py): a job's assets share one
# partitioning.
OWN_JOB = dg.AssetSelection.assets("served_requests", "request_windows")
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Tags making one run cover the monthly ingest partitions first..last (single-run backfill)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


full_refresh = dg.define_asset_job(
    "full_refresh",
    selection=dg.AssetSelection.all() - OWN_JOB,
    description="Everything, raw feeds to the serving bundle (what `make demo` runs over the feed's "
    "history). From the UI: Materialize all, then select every partition (first to last month) and "
    "launch them as one run: the history lands and dbt rebuilds once.",
    executor_def=dg.in_process_executor,
)

daily_refresh = dg.define_asset_job(
    "daily_refresh",
    selection=(
        dg.AssetSelection.groups("ingest", "warehouse", "features", "monitoring")
        | dg.AssetSelection.assets(*FORECAST_SERVING)
    )
    - OWN_JOB,
    description="Re-ingest the current month, rebuild the warehouse and features, measure drift, "
    "forecast with the current champion (no training) and publish the serving bundle.",
    executor_def=dg.in_process_executor,
)

# No executor of its own: `retrain` takes the code location's default, which SHELFCAST_EXECUTOR chooses
# (definitions.py): in-process locally, one pod per step on Kubernetes.
retrain = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.groups("features", "ml") | dg.AssetSelection.assets("serving_bundle"),
    description="Features -> train a challenger -> promotion gate -> forecasts from the champion -> the "
    "serving bundle.",
)


def current_month_key(today: date) -> str:
    """The monthly ingest partition holding `today` (the one a daily refresh re-ingests)."""
    return date(today.year, today.month, 1).isoformat()


@dg.schedule(job=daily_refresh, cron_schedule="0 6 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every morning: land the newest period (the current month's partition) and forecast."""
    scheduled = context.scheduled_execution_time.date()
    key = current_month_key(scheduled)
    return dg.RunRequest(run_key=f"daily-{scheduled.isoformat()}", partition_key=key)


weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule",
    job=retrain,
    cron_schedule="0 3 * * 1",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def build_orchestration_defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[full_refresh, daily_refresh, retrain],
        schedules=[daily_refresh_schedule, weekly_retrain_schedule],
    )
