"""Quality checks on the raw and warehouse layers, reading the stored tables."""

from datetime import UTC, datetime

import dagster as dg

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.defs.ingest import read_batch, thresholds
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.monitoring import quality
from platform_assets.storage.warehouse import WAREHOUSE_POOL, Warehouse


def _result(verdict: quality.Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity(verdict.severity),
        description=verdict.description,
        metadata=verdict.metadata,
    )


@dg.asset_check(
    asset="raw_observations",
    blocking=True,
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
    description="This run's own ingest batch: the share of rows rejected or without a target, and the "
    "files quarantined; on ERROR nothing of the batch lands and nothing downstream runs",
)
def rejected_row_rate(
    context: dg.AssetCheckExecutionContext, config: ShelfcastConfig, warehouse: Warehouse
) -> dg.AssetCheckResult:
    """This run's own batch (raw.ingest_batches): rows rejected or without a target in the history,
    files quarantined. On ERROR nothing downstream runs (a broken feed must not reach the forecasts)
    and nothing of the batch landed (the previous raw rows stay)."""
    batch = read_batch(warehouse, context.run.run_id)
    if batch is None:
        return _result(quality.Verdict(True, "WARN", "no ingest batch recorded yet"))
    return _result(quality.ingest_batch(batch, *thresholds(config)))


@dg.asset_check(
    asset="fct_product_sales",
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
    description="Observed rows in the newest period against the median of the 28 before "
    "(a row-count anomaly)",
)
def newest_period_volume(warehouse: Warehouse) -> dg.AssetCheckResult:
    """Observed rows in the newest period against the recent median (row-count anomaly)."""
    counts = warehouse.query(
        "select period_date, count(*) filter (where is_observed) as n from marts.fct_product_sales"
        " group by period_date order by period_date desc limit 29"
    )
    return _result(quality.volume_anomaly(counts))


@dg.asset_check(
    asset="fct_product_sales",
    pool=WAREHOUSE_POOL,
    retry_policy=SERVER_RETRY,
    description="Age of the newest actual against today's date; warns above SHELFCAST_FRESHNESS_MAX_AGE_DAYS "
    "(a feed whose history ends in the past, as the demo's does, always warns)",
)
def actuals_freshness(config: ShelfcastConfig, warehouse: Warehouse) -> dg.AssetCheckResult:
    """Age of the newest actual period against the wall clock."""
    newest = warehouse.query("select max(period_date) from marts.fct_product_sales").item()
    today = datetime.now(UTC).date()
    return _result(quality.freshness(newest, today, config.monitoring.freshness_max_age_days))


UNUSED_BY_PARTITION = """
with landed as (
    select ingest_partition, count(*) as n from raw.observations group by ingest_partition
), rejected as (
    select ingest_partition, count(*) as n from raw.rejected_rows where source = 'observations'
    group by ingest_partition
), excluded as (
    select ingest_partition, count(*) as n from marts.excluded_observations group by ingest_partition
)
select
    ingest_partition,
    coalesce(l.n, 0) + coalesce(r.n, 0) as "rows",
    coalesce(r.n, 0) as rejected,
    coalesce(e.n, 0) as excluded
from landed as l
full outer join rejected as r using (ingest_partition)
left join excluded as e using (ingest_partition)
order by ingest_partition
"""


@dg.asset_check(asset="excluded_observations", pool=WAREHOUSE_POOL, retry_policy=SERVER_RETRY)
def unused_rows_by_partition(config: ShelfcastConfig, warehouse: Warehouse) -> dg.AssetCheckResult:
    """Per monthly partition, the share of observation rows rejected at ingest or excluded as
    implausible, so one damaged month is named even when the whole history's share stays small."""
    return _result(
        quality.unused_by_partition(
            warehouse.query(UNUSED_BY_PARTITION),
            config.monitoring.rejected_rate_warn,
            config.monitoring.rejected_rate_error,
        )
    )


def build_quality_defs() -> dg.Definitions:
    return dg.Definitions(
        asset_checks=[rejected_row_rate, newest_period_volume, actuals_freshness, unused_rows_by_partition]
    )
