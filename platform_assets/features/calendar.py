"""Calendar inputs known ahead of time, per period of any grid: the public holidays of a configured
country (and region), and the landing zone's events (`events.csv`: a date, an event, optionally the
store and/or category it applies to).

Both are known for future periods too, so they are covariates read at t (features/columns.py names
them). A period's values count what falls inside it (a day holds 0 or 1 holiday, a month several) and
how many days its first day is from the next one and after the last one before it, so the same columns
serve daily, weekly and monthly grids. Distances are capped at `FAR_DAYS`: "none within a year" reads
the same everywhere.
"""

import functools

import holidays
import polars as pl

from platform_assets.core.periods import period_date, period_grid, period_number
from platform_assets.features.columns import (
    DAYS_SINCE_EVENT,
    DAYS_SINCE_HOLIDAY,
    DAYS_TO_EVENT,
    DAYS_TO_HOLIDAY,
    EVENTS_IN_PERIOD,
    HOLIDAYS_IN_PERIOD,
)
from platform_assets.features.config import parse_holidays

FAR_DAYS = 366
# What an events frame holds (marts.fct_events): a null store_id / category means every store / category.
EVENT_SCHEMA = {"date": pl.Date(), "event": pl.String(), "store_id": pl.String(), "category": pl.String()}
EVENT_ORDER = "date, event, store_id nulls first, category nulls first"
_SCOPE = ["store_id", "category"]


@functools.cache
def holiday_dates(spec: str, first_year: int, last_year: int) -> pl.Series:
    """The public holidays of `spec` in the years first..last, sorted."""
    country, region = parse_holidays(spec)
    found = holidays.country_holidays(country, subdiv=region, years=range(first_year, last_year + 1))
    return pl.Series("date", sorted(found), dtype=pl.Date)


def period_spans(labels: pl.Series, freq: str) -> pl.DataFrame:
    """period_date (each distinct label), _first and _last (the period's first and last day)."""
    n = period_number(pl.col("period_date"), freq)
    return pl.DataFrame({"period_date": labels.unique().sort()}).with_columns(
        _first_day(n, freq).alias("_first"), (_first_day(n + 1, freq) - pl.duration(days=1)).alias("_last")
    )


def _first_day(number: pl.Expr, freq: str) -> pl.Expr:
    """A period labelled by its last day starts the day after the previous label."""
    if period_grid(freq).label_end:
        return period_date(number - 1, freq) + pl.duration(days=1)
    return period_date(number, freq)


def date_stats(spans: pl.DataFrame, dates: pl.Series) -> pl.DataFrame:
    """Per span: `n` dates inside it, days from its first day to the next date (on or after it) and
    since the last date before it, capped at FAR_DAYS."""
    dates = dates.sort()
    if dates.is_empty():
        return spans.select("period_date", n=pl.lit(0, pl.Int32), to_next=FAR_DAYS, since_last=FAR_DAYS)
    lo = dates.search_sorted(spans["_first"], "left")
    hi = dates.search_sorted(spans["_last"], "right")
    top = dates.len() - 1
    return spans.select(
        "period_date",
        n=(hi - lo).cast(pl.Int32),
        to_next=pl.when(lo <= top).then((dates.gather(lo.clip(0, top)) - pl.col("_first")).dt.total_days()),
        since_last=pl.when(lo > 0).then(
            (pl.col("_first") - dates.gather((lo - 1).clip(0, top))).dt.total_days()
        ),
    ).with_columns(
        pl.col("to_next", "since_last").fill_null(FAR_DAYS).clip(upper_bound=FAR_DAYS).cast(pl.Int32)
    )


def holiday_columns(labels: pl.Series, freq: str, spec: str) -> pl.DataFrame:
    """period_date and the holiday columns of each distinct label."""
    spans = period_spans(labels, freq)
    years = spans["_first"].dt.year()
    dates = holiday_dates(spec, years.min() - 1, years.max() + 1)
    return date_stats(spans, dates).select(
        "period_date",
        pl.col("n").alias(HOLIDAYS_IN_PERIOD.name),
        pl.col("to_next").alias(DAYS_TO_HOLIDAY.name),
        pl.col("since_last").alias(DAYS_SINCE_HOLIDAY.name),
    )


def event_columns(keys: pl.DataFrame, events: pl.DataFrame, freq: str) -> pl.DataFrame:
    """store_id, category, period_date (the distinct `keys`) and the event columns: the events that
    apply to the store and category (their own, the store's, the category's and everyone's)."""
    keys = keys.select(*_SCOPE, "period_date").unique()
    spans = period_spans(keys["period_date"], freq)
    scopes = events.select(_SCOPE).unique().sort(_SCOPE, nulls_last=False)
    stats = pl.concat(
        date_stats(spans, events.filter(_in_scope(store, category))["date"]).with_columns(
            pl.lit(store, pl.String).alias("_store"), pl.lit(category, pl.String).alias("_category")
        )
        for store, category in scopes.iter_rows()
    )
    pairs = keys.select(_SCOPE).unique()
    applies = pairs.join(scopes.rename({"store_id": "_store", "category": "_category"}), how="cross").filter(
        (pl.col("_store").is_null() | (pl.col("_store") == pl.col("store_id")))
        & (pl.col("_category").is_null() | (pl.col("_category") == pl.col("category")))
    )
    matched = (
        keys.join(applies, on=_SCOPE, nulls_equal=True)
        .join(stats, on=["_store", "_category", "period_date"], nulls_equal=True)
        .group_by(*_SCOPE, "period_date")
        .agg(
            pl.col("n").sum().alias(EVENTS_IN_PERIOD.name),
            pl.col("to_next").min().alias(DAYS_TO_EVENT.name),
            pl.col("since_last").min().alias(DAYS_SINCE_EVENT.name),
        )
    )
    return keys.join(matched, on=[*_SCOPE, "period_date"], how="left", nulls_equal=True).with_columns(
        pl.col(EVENTS_IN_PERIOD.name).fill_null(0).cast(pl.Int32),
        pl.col(DAYS_TO_EVENT.name, DAYS_SINCE_EVENT.name).fill_null(FAR_DAYS).cast(pl.Int32),
    )


def _in_scope(store: str | None, category: str | None) -> pl.Expr:
    return pl.col("store_id").eq_missing(pl.lit(store, pl.String)) & pl.col("category").eq_missing(
        pl.lit(category, pl.String)
    )


def add_calendar(
    rows: pl.DataFrame, events: pl.DataFrame | None, freq: str, spec: str | None
) -> pl.DataFrame:
    """`rows` (keys, category, period_date) with the holiday columns when `spec` names a country and
    the event columns when there are events; neither adds a column otherwise."""
    if spec:
        found = holiday_columns(rows["period_date"], freq, spec)
        rows = rows.join(found, on="period_date", how="left", maintain_order="left")
    if events is not None and events.height:
        found = event_columns(rows.select(*_SCOPE, "period_date"), events, freq)
        rows = rows.join(
            found, on=[*_SCOPE, "period_date"], how="left", nulls_equal=True, maintain_order="left"
        )
    return rows
