"""Column contracts of the tables Python writes, shared by feeds, assets and dbt sources.

Feeds return frames with exactly these columns (in this order); the ingest assets add the
bookkeeping columns (`ingest_partition`, `ingested_at`) before writing `raw.*`.
"""

import polars as pl

RAW_PRODUCTS: dict[str, pl.DataType] = {
    "product_id": pl.String(),
    "name": pl.String(),
    "category": pl.String(),
    "brand": pl.String(),
    "supplier_id": pl.String(),
    "attributes": pl.String(),  # JSON object of every extra column the feed carried
    "source_file": pl.String(),
    "source_line": pl.Int64(),
}

RAW_SUPPLIERS: dict[str, pl.DataType] = {
    "supplier_id": pl.String(),
    "name": pl.String(),
    "country": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
}

# One row per observation (files, synthetic) or per transaction line (tafeng): dbt aggregates to the
# period grid, so several rows for one (date, product, store) are legal only where the feed says so.
RAW_OBSERVATIONS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "product_id": pl.String(),
    "store_id": pl.String(),  # "all" when the feed has no stores
    "price": pl.Float64(),  # unit price
    "units_sold": pl.Float64(),  # null on plan rows (future price / promotion calendar)
    "on_promo": pl.Boolean(),
    "sales_amount": pl.Float64(),  # line revenue where the feed has it (tafeng), else null
    "source_file": pl.String(),
    "source_line": pl.Int64(),
}

# Dated events of the landing zone (events.csv): known-future calendar inputs. A null store_id or category
# means the event applies to every store or category.
RAW_EVENTS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "event": pl.String(),
    "store_id": pl.String(),
    "category": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
}

REJECTED_ROWS: dict[str, pl.DataType] = {
    "source": pl.String(),  # products | suppliers | observations | events
    "file": pl.String(),
    "line": pl.Int64(),  # 1-based data line in the file (header excluded); null for whole-file issues
    "reason": pl.String(),
    "record": pl.String(),  # the offending record as JSON text, so nothing is lost
    # The row's keys where they parse (else null): for observations, its series and usable date, so
    # the warehouse marks that series-period missing, not a period without sales (int_refused_periods).
    "product_id": pl.String(),
    "store_id": pl.String(),
    "date": pl.Date(),
}

DEFAULT_STORE = "all"


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with the contract's columns, for feeds that have nothing to report."""
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast to the contract, failing loudly on a missing column."""
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"frame lacks contract columns {missing}")
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])
