"""Ingest layer: feeds land raw, rejected rows are quarantined, partitions re-ingest alone.

A run's batch (its partitions) is judged before it lands (`monitoring.quality.ingest_batch`): an ERROR
batch lands nothing, so the raw rows of earlier runs stay, and the blocking check stops the run."""

import json
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.config.settings import Settings
from platform_assets.core.periods import month_windows, week_anchor_note
from platform_assets.core.schemas import (
    RAW_EVENTS,
    RAW_OBSERVATIONS,
    RAW_PRODUCTS,
    RAW_SUPPLIERS,
    REJECTED_ROWS,
)
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.feeds import Feed, FeedResult
from platform_assets.monitoring import quality
from platform_assets.storage.warehouse import WAREHOUSE_KIND, WAREHOUSE_POOL, OneOf, Warehouse

BOOKKEEPING = {"ingest_partition": pl.String(), "ingested_at": pl.Datetime("us")}
RAW_TABLES = {
    "products": RAW_PRODUCTS,
    "suppliers": RAW_SUPPLIERS,
    "observations": RAW_OBSERVATIONS,
    "events": RAW_EVENTS,
    "rejected_rows": REJECTED_ROWS,
}
# One row per raw_observations run: its own batch (what `rejected_row_rate` judges) and whether it landed.
INGEST_BATCHES = {
    "run_id": pl.String(),
    "rows_in": pl.Int64(),
    "accepted": pl.Int64(),
    "rejected": pl.Int64(),
    "untargeted": pl.Int64(),
    "files_read": pl.Int64(),
    "worst_partition": pl.String(),
    "worst_rejected": pl.Float64(),
    "worst_cause": pl.String(),
    "quarantined": pl.String(),  # JSON list of "file: why"
    "ignored": pl.String(),  # JSON list of "file: why"
    "landed": pl.Boolean(),
    "verdict": pl.String(),
}


def _stamp(df: pl.DataFrame, partition: str, at: datetime) -> pl.DataFrame:
    return df.with_columns(
        pl.lit(partition, pl.String()).alias("ingest_partition"),
        pl.lit(at, pl.Datetime("us")).alias("ingested_at"),
    )


def ensure_raw_tables(warehouse: Warehouse) -> None:
    """Every raw table exists (empty at first), so dbt's sources resolve whatever a feed delivers."""
    for name, columns in {**RAW_TABLES, "ingest_batches": INGEST_BATCHES}.items():
        warehouse.ensure_table("raw", name, {**columns, **BOOKKEEPING})


def land(warehouse: Warehouse, table: str, slices: list[tuple[str, FeedResult]]) -> list[dict]:
    """Write the accepted rows and the rejects of every (partition, slice) pair into the raw tables
    (see `ensure_raw_tables`), one transaction per table for all the slices (a 492-month backfill is
    two writes, not 984); return each slice's row accounting (FeedResult guarantees that rows in =
    accepted + rejected)."""
    at = datetime.now(UTC).replace(tzinfo=None)
    partitions = {"ingest_partition": OneOf(tuple(key for key, _ in slices))}
    accepted = pl.concat([_stamp(r.accepted, key, at) for key, r in slices], how="vertical_relaxed")
    warehouse.replace_slice("raw", table, accepted, partitions)
    rejected = pl.concat([_stamp(r.rejected, key, at) for key, r in slices], how="vertical_relaxed")
    warehouse.replace_slice("raw", "rejected_rows", rejected, {"source": table, **partitions})
    return [_counts(r) for _, r in slices]


def _counts(result: FeedResult) -> dict:
    return {
        "rows_in": result.rows_in,
        "accepted": result.accepted.height,
        "rejected": result.rejected.height,
        "unreadable": [f"{u.path}: {u.error} (moved to {u.moved_to})" for u in result.unreadable],
    }


def batch_of(
    results: list[tuple[str, FeedResult]], target: str, last_actual_before: date | None
) -> quality.IngestBatch:
    """The run's own batch from its (partition, slice) pairs: its rows, files, quarantined and ignored
    files (each listed once), and its partition with the highest rejected share. `last_actual_before`:
    the newest actual already landed (rows without a target up to it are history, not plans)."""
    accepted = pl.concat([r.accepted for _, r in results])
    rejected = pl.concat([r.rejected for _, r in results])
    actual = accepted.filter(pl.col(target).is_not_null())["date"].max()
    last = max((d for d in (actual, last_actual_before) if d is not None), default=None)

    def unused(result: FeedResult) -> float:  # rejected or without a target although in the history
        untargeted = quality.untargeted_rows(result.accepted, target, last)
        return (result.rejected.height + untargeted) / max(result.rows_in, 1)

    worst = max(results, key=lambda kr: unused(kr[1]))
    files = set(accepted["source_file"].drop_nulls()) | set(rejected["file"].drop_nulls())
    return quality.IngestBatch(
        rows_in=sum(r.rows_in for _, r in results),
        accepted=accepted.height,
        rejected=rejected.height,
        untargeted=quality.untargeted_rows(accepted, target, last_actual_before),
        files_read=len(files),
        quarantined=tuple(f"{u.path}: {u.error}" for _, r in results for u in r.unreadable),
        ignored=tuple(dict.fromkeys(f"{i.path}: {i.reason}" for _, r in results for i in r.ignored)),
        worst_partition=worst[0],
        worst_rejected=unused(worst[1]),
        worst_cause=_main_cause(worst[1].rejected),
    )


def _main_cause(rejected: pl.DataFrame) -> str | None:
    """The file and reason most of these rejected rows share, as 'file: reason xN'."""
    if rejected.height == 0:
        return None
    top = (
        rejected.group_by("file", "reason")
        .len()
        .sort(["len", "file", "reason"], descending=[True, False, False])
    )
    file, reason, n = top.row(0)
    return f"{file}: {reason} x{n}"


def last_actual(warehouse: Warehouse, target: str) -> date | None:
    """The newest date of a landed row carrying the target."""
    column = {"units_sold": "units_sold", "price": "price"}[target]  # never an arbitrary identifier
    return warehouse.query(f'select max("date") from raw.observations where {column} is not null').item()


def thresholds(config: ShelfcastConfig) -> tuple[float, float, float]:
    m = config.monitoring
    return m.rejected_rate_warn, m.rejected_rate_error, m.quarantined_share_error


def record_batch(
    warehouse: Warehouse,
    run_id: str,
    batch: quality.IngestBatch,
    verdict: quality.Verdict,
    landed: bool,
    partitions: str,
) -> None:
    """The batch's row of raw.ingest_batches, what the blocking check reads back."""
    row = {
        **{k: v for k, v in vars(batch).items() if not isinstance(v, tuple)},
        "run_id": run_id,
        "quarantined": json.dumps(list(batch.quarantined)),
        "ignored": json.dumps(list(batch.ignored)),
        "landed": landed,
        "verdict": verdict.description,
    }
    frame = pl.DataFrame([row]).select([pl.col(c).cast(t) for c, t in INGEST_BATCHES.items()])
    stamped = _stamp(frame, partitions, datetime.now(UTC).replace(tzinfo=None))
    warehouse.replace_slice("raw", "ingest_batches", stamped, {"run_id": run_id})


def read_batch(warehouse: Warehouse, run_id: str) -> quality.IngestBatch | None:
    """The batch of run `run_id`, else the newest one recorded (a check run on its own)."""
    rows = warehouse.query(
        "select * from raw.ingest_batches order by run_id = ? desc, ingested_at desc limit 1", [run_id]
    )
    if rows.height == 0:
        return None
    row = rows.row(0, named=True)
    lists = ("quarantined", "ignored")
    scalars = {k: row.get(k) for k in quality.IngestBatch.__dataclass_fields__ if k not in lists}
    return quality.IngestBatch(**scalars, **{k: tuple(json.loads(row[k])) for k in lists})


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


def _whole_table_asset(table: str, description: str) -> dg.AssetsDefinition:
    """`raw_<table>`: the feed's whole table, replaced on every run (catalog-like data, no partitions)."""

    @dg.asset(
        name=f"raw_{table}",
        description=description,
        group_name="ingest",
        kinds={"python", WAREHOUSE_KIND},
        pool=WAREHOUSE_POOL,
        retry_policy=SERVER_RETRY,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: ShelfcastConfig, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        ensure_raw_tables(warehouse)
        try:
            rows = getattr(config.make_feed(), table)()
        except FileNotFoundError as err:  # e.g. no catalog in the landing zone: a retry would only repeat it
            raise dg.Failure(str(err), allow_retries=False) from None
        [counts] = land(warehouse, table, [("all", rows)])
        return dg.MaterializeResult(metadata=_report(context, table, [counts]))

    return _asset


raw_products = _whole_table_asset(
    "products", "The product catalog as the feed delivers it (attributes kept as JSON)."
)
raw_suppliers = _whole_table_asset(
    "suppliers", "Suppliers, when the feed has them (the table exists, empty, otherwise)."
)
raw_events = _whole_table_asset(
    "events", "Dated events known ahead (the landing zone's events.csv), when the feed has them."
)


def _frequency(
    feed: Feed, configured: str | None, results: list[tuple[str, FeedResult]]
) -> tuple[str, str | None]:
    """The grid the run's dates are read on and where it came from, plus a warning when it was
    inferred from weekly dates on several weekdays (the anchor is then a guess to confirm)."""
    if configured:
        return f"{feed.freq} (SHELFCAST_FREQ)", None
    try:
        freq = feed.freq
    except ValueError as err:  # too few dates yet: the warehouse step says what to set
        return str(err), None
    note = week_anchor_note(pl.concat([r.accepted["date"] for _, r in results]), freq)
    return f"{freq} (inferred from the dates){f': {note}' if note else ''}", note


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
        results = [
            (
                key,
                FeedResult.empty(RAW_OBSERVATIONS) if hi <= first or lo > last else feed.observations(lo, hi),
            )
            for key, lo, hi in month_windows(window.start.date(), window.end.date())
        ]
        target = config.forecasting.target
        batch = batch_of(results, target, last_actual(warehouse, target))
        verdict = quality.ingest_batch(batch, *thresholds(config))
        landed = verdict.passed or verdict.severity != "ERROR"
        counts = land(warehouse, "observations", results) if landed else []
        record_batch(warehouse, context.run_id, batch, verdict, landed, f"{results[0][0]}..{results[-1][0]}")
        for name in batch.ignored:
            context.log.warning(f"landing file ignored: {name}")
        frequency, anchor_note = _frequency(feed, config.ingest.freq, results)
        if anchor_note:
            context.log.warning(anchor_note)
        if not landed:
            context.log.error(
                f"nothing of this batch landed (the previous raw rows stay): {verdict.description}"
            )
        metadata = _report(context, "observations", counts or [_counts(r) for _, r in results])
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "landed": dg.MetadataValue.bool(landed),
                "batch_verdict": dg.MetadataValue.text(verdict.description),
                "ignored_files": dg.MetadataValue.json(list(batch.ignored)),
                "frequency": dg.MetadataValue.text(frequency),
            }
        )

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
