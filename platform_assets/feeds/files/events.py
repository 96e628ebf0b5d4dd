"""The landing zone's optional `events.csv` / `events.parquet`: one dated event a row, optionally for one
store and/or one category (blank: every store / category). Events are known ahead, like price plans, and
become calendar features (features/calendar.py)."""

import polars as pl

from platform_assets.core.schemas import RAW_EVENTS, conform
from platform_assets.feeds import contract as c
from platform_assets.feeds.base import FeedResult, UnreadableFile

EVENT_COLUMNS = ("date", "event", "store_id", "category")
EVENT_REQUIRED = ("date", "event")


def events_result(rows: pl.DataFrame, unreadable: tuple[UnreadableFile, ...]) -> FeedResult:
    """Typed event rows; a row without a usable date or an event name is rejected, and so is a repeat of
    an earlier accepted (date, event, store_id, category)."""
    day = c.iso_date("date")
    typed = rows.with_columns(
        day.alias("date"),
        *[c.clean(col).alias(col) for col in ("event", "store_id", "category")],
        c.reasons(
            [
                (c.clean("date").is_null(), "missing date"),
                (c.clean("date").is_not_null() & day.is_null(), "unparseable date"),
                (day.is_not_null() & ~c.in_date_range(day), "date out of range"),
                (c.clean("event").is_null(), "missing event"),
            ]
        ).alias("reason"),
    )
    key = [*EVENT_COLUMNS, pl.col("reason").is_null()]
    repeat = pl.col("reason").is_null() & (pl.int_range(pl.len()).over(key) > 0)
    checked = typed.with_columns(
        pl.when(repeat).then(pl.lit("duplicate")).otherwise("reason").alias("reason")
    )
    accepted = checked.filter(pl.col("reason").is_null()).rename(
        {"_file": "source_file", "_line": "source_line"}
    )
    rejected = checked.filter(pl.col("reason").is_not_null()).rename(
        {"_file": "file", "_line": "line", "_record": "record"}
    )
    return FeedResult(
        conform(accepted, RAW_EVENTS).sort("date", "event", maintain_order=True),
        c.rejected_rows(rejected, "events"),
        rows.height,
        unreadable,
    )
