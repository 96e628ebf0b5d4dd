"""Plausible dates: rows the row contract accepts one by one but the data as a whole says are typos.

A row dated 2090 in a 2025 history is a valid date, yet landing it would stretch the feed's span, and
with it the ingest partitions and the period grid, over decades. So, on the validated frame of
`feeds/files/checks.py` (`_reason` null when accepted, `_window` the usable date):
- a row dated before `date_min` is rejected;
- the data's dates run as one block around their median row date; a row separated from that block by
  a gap of more than `max_gap_days` is rejected, the gap named in the reason;
- a plan row (no target value) dated after the last actual's period plus the horizon is rejected:
  nothing forecast reads it.
Rejected rows lose their `_window`, so they are counted in the window of the span's first day (see
`contract.in_window`) and never move the span. Values (units, prices) are judged per series in the
warehouse instead (dbt: int_series_bounds), where each series' history is.
"""

from dataclasses import dataclass
from datetime import date

import polars as pl

from platform_assets.core.periods import period_number


@dataclass(frozen=True)
class DateBounds:
    """What bounds an observation's date: the configured start, the largest gap, the plan horizon."""

    date_min: date
    max_gap_days: int
    horizon: int  # periods forecast after the last actual
    target: str  # the column that makes a row an actual


def _reject(rows: pl.DataFrame, bad: pl.Expr, reason: pl.Expr) -> pl.DataFrame:
    """Append `reason` to the rows where `bad` holds and drop their usable date."""
    bad = bad.fill_null(False)
    joined = pl.when(pl.col("_reason").is_null()).then(reason).otherwise(pl.col("_reason") + "; " + reason)
    return rows.with_columns(
        pl.when(bad).then(joined).otherwise(pl.col("_reason")).alias("_reason"),
        pl.when(bad).then(None).otherwise(pl.col("_window")).alias("_window"),
    )


def dated_block(days: pl.Series, max_gap_days: int) -> tuple[date, date] | None:
    """The first and last date of the run of dates around the median row date in which no two
    consecutive distinct dates are more than `max_gap_days` apart; None when no row has a date."""
    days = days.drop_nulls()
    if days.is_empty():
        return None
    distinct = days.unique().sort()
    middle = days.sort()[days.len() // 2]
    breaks = distinct.diff().dt.total_days().fill_null(0) > max_gap_days
    block = breaks.cum_sum()
    centre = block.filter(distinct == middle).item()
    inside = distinct.filter(block == centre)
    return inside.min(), inside.max()


def bound_dates(rows: pl.DataFrame, bounds: DateBounds) -> pl.DataFrame:
    """Reject rows dated before `date_min` or cut off from the rest of the data by a long gap."""
    rows = _reject(
        rows,
        pl.col("_window") < bounds.date_min,
        pl.lit(f"date before {bounds.date_min.isoformat()} (SHELFCAST_DATE_MIN)"),
    )
    block = dated_block(rows["_window"], bounds.max_gap_days)
    if block is None:
        return rows
    lo, hi = block
    reason = (
        f"date cut off from the rest of the data ({lo} .. {hi}) by a gap of more than "
        f"{bounds.max_gap_days} days (SHELFCAST_MAX_DATE_GAP_DAYS)"
    )
    return _reject(rows, ~pl.col("_window").is_between(lo, hi), pl.lit(reason))


def bound_plans(rows: pl.DataFrame, bounds: DateBounds, freq: str) -> pl.DataFrame:
    """Reject plan rows (no target value) in a period after the horizon that follows the last actual."""
    actual = pl.col(bounds.target).is_not_null()
    last = rows.filter(pl.col("_reason").is_null() & actual)["_window"].max()
    if last is None:
        return rows
    beyond = period_number(pl.col("_window"), freq) > period_number(pl.lit(last), freq) + bounds.horizon
    reason = f"plan dated beyond the horizon ({bounds.horizon} periods) after the last actual ({last})"
    return _reject(rows, ~actual & beyond, pl.lit(reason))
