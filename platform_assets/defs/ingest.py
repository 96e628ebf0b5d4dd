"""Ingest layer: feeds land raw, rejected rows are quarantined, partitions re-ingest alone."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.config.settings import Settings
from platform_assets.core.periods import month_windows
from platform_assets.core.schemas import (
    RAW_EVENTS,
    RAW_OBSERVATIONS,
    RAW_PRODUCTS,
    RAW_SUPPLIERS,
    REJECTED_ROWS,
)
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.feeds import FeedResult
from platform_assets.storage.warehouse import WAREHOUSE_KIND, WAREHOUSE_POOL, Warehouse

BOOKKEEPING = {"ingest_partition": pl.String(), "ingested_at": pl.Datetime("us")}
RAW_TABLES = {
    "products": RAW_PRODUCTS,
    "suppliers": RAW_SUPPLIERS,
    "observations": RAW_OBSERVATIONS,
    "events": RAW_EVENTS,
    "rejected_rows": REJECTED_ROWS,
}


def _stamp(df: pl.DataFrame, partition: str, at: datetime) -> pl.DataFrame:
    return df.with_columns(
        pl.lit(partition, pl.String()).alias("ingest_partition"),
        pl.lit(at, pl.Datetime("us")).alias("ingested_at"),
    )


def ensure_raw_tables(warehouse: Warehouse) -> None:
    """Every raw table exists (empty at first), so dbt's sources resolve whatever a feed delivers."""
    for name, columns in RAW_TABLES.items():
        warehouse.ensure_table("raw", name, {**columns, **BOOKKEEPING})


def land(warehouse: Warehouse, table: str, result: FeedResult, partition: str) -> dict:
    """Write accepted rows and their rejects for one slice (FeedResult guarantees that rows in =
    accepted + rejected) into the raw tables (see `ensure_raw_tables`); return the slice's row
    accounting."""
    at = datetime.now(UTC).replace(tzinfo=None)
    slice_key = {"ingest_partition": partition}
    warehouse.replace_slice("raw", table, _stamp(result.accepted, partition, at), slice_key)
    rejected = _stamp(result.rejected, partition, at)
    warehouse.replace_slice("raw", "rejected_rows", rejected, {"source": table, **slice_key})
    return {
        "rows_in": result.rows_in,
        "accepted": result.accepted.height,
        "rejected": result.rejected.height,
        "unreadable": [f"{u.path}: {u.error} (moved to {u.moved_to})" for u in result.unreadable],
    }


def _report(context: dg.AssetExecutionContext, table: str, counts: list[dict]) -> dict:
    unreadable = [u for c in counts for u in c["unreadable"]]
    for line in unreadable:
        context.log.error(f"unreadable file set aside: {line}")
    totals = {k: sum(c[k] for c in counts) for k in ("rows_in", "accepted", "rejected")}
    context.log.info(f"{table}: {totals}")
    return {
        **{f"rows_{k}" if k != "rows_in" else k: dg.MetadataValue.int(v) for k, v in totals.items()},
        "rejected_rate": dg.MetadataValue.float(totals["rejected"] / max(totals["rows_in"], 1)),
        "unreadable_files": dg.MetadataValue.json(unreadable),
    }


@dg.asset(
    group_name="ingest", kinds={"python", WAREHOUSE_KIND}, pool=WAREHOUSE_POOL, retry_policy=SERVER_RETRY
)
def raw_products(
    context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """The product catalog as the feed delivers it (attributes kept as JSON)."""
    ensure_raw_tables(warehouse)
    counts = land(warehouse, "products", config.make_feed().products(), "all")
    return dg.MaterializeResult(metadata=_report(context, "products", [counts]))


@dg.asset(
    group_name="ingest", kinds={"python", WAREHOUSE_KIND}, pool=WAREHOUSE_POOL, retry_policy=SERVER_RETRY
)
def raw_suppliers(
    context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Suppliers, when the feed has them (the table exists, empty, otherwise)."""
    ensure_raw_tables(warehouse)
    counts = land(warehouse, "suppliers", config.make_feed().suppliers(), "all")
    return dg.MaterializeResult(metadata=_report(context, "suppliers", [counts]))


@dg.asset(
    group_name="ingest", kinds={"python", WAREHOUSE_KIND}, pool=WAREHOUSE_POOL, retry_policy=SERVER_RETRY
)
def raw_events(
    context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Dated events known ahead (the landing zone's events.csv), when the feed has them."""
    ensure_raw_tables(warehouse)
    counts = land(warehouse, "events", config.make_feed().events(), "all")
    return dg.MaterializeResult(metadata=_report(context, "events", [counts]))


def build_ingest_defs(settings: Settings) -> dg.Definitions:
    partitions = dg.MonthlyPartitionsDefinition(start_date=settings.history_start, end_offset=1)

    @dg.asset(
        group_name="ingest",
        kinds={"python", WAREHOUSE_KIND},
        pool=WAREHOUSE_POOL,
        retry_policy=SERVER_RETRY,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[raw_products],
    )
    def raw_observations(
        context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        """Prices, units and promotions by date, one monthly partition at a time (plans included)."""
        feed = config.make_feed()
        ensure_raw_tables(warehouse)
        window = context.partition_time_window
        first, last = feed.span()
        counts = []
        for key, lo, hi in month_windows(window.start.date(), window.end.date()):
            if hi <= first or lo > last:
                result = FeedResult.empty(RAW_OBSERVATIONS)
            else:
                result = feed.observations(lo, hi)
            counts.append(land(warehouse, "observations", result, key))
        return dg.MaterializeResult(metadata=_report(context, "observations", counts))

    @dg.asset(
        group_name="ingest",
        kinds={WAREHOUSE_KIND},
        pool=WAREHOUSE_POOL,
        retry_policy=SERVER_RETRY,
        deps=[raw_products, raw_suppliers, raw_events, raw_observations],
    )
    def rejected_rows(warehouse: Warehouse) -> dg.MaterializeResult:
        """The quarantine: every row that broke the landing contract, with file, line and reason."""
        by_reason = warehouse.query(
            "select source, reason, count(*) as n from raw.rejected_rows"
            " group by source, reason order by n desc, source, reason"
        )
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(int(by_reason["n"].sum()) if by_reason.height else 0),
                "by_reason": dg.MetadataValue.json(by_reason.to_dicts()),
            }
        )

    return dg.Definitions(assets=[raw_products, raw_suppliers, raw_events, raw_observations, rejected_rows])
