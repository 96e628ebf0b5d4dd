"""Plausible dates: rows the row contract accepts one by one but the data as a whole says are typos.

A row dated 2090 in a 2025 history is a valid date, yet landing it would stretch the feed's span, and
with it the ingest partitions and the period grid, over decades. So, on the validated frame of
`feeds/files/checks.py` (`_reason` null when accepted, `_window` the usable date):
- a row dated before `date_min` is rejected;
- the data's dates run as one block around their median row date, and so do each series' dates; a
  row separated by a gap of more than `max_gap_days` from both blocks is rejected, the gap named in
  the reason. Both, because either alone loses real history: series of different eras (one ending
  in 1990, one starting in 2000) each sit outside the other's block, and a product of a sparse
  transaction log that sold once a year before selling daily is cut off from its own later dates;
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

SERIES = ["product_id", "store_id"]


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


def series_blocks(rows: pl.DataFrame, max_gap_days: int) -> pl.DataFrame:
    """Per series (`SERIES`), the first and last date (`_lo`, `_hi`) of the block of its dates around
    its median row date, as `dated_block` finds it for the whole data."""
    dated = rows.filter(pl.col("_window").is_not_null()).select(*SERIES, "_window")
    middles = dated.group_by(SERIES).agg(pl.col("_window").sort().gather(pl.len() // 2).first().alias("_mid"))
    gap = pl.col("_window").diff().dt.total_days().fill_null(0) > max_gap_days
    distinct = (
        dated.unique().sort([*SERIES, "_window"]).with_columns(gap.cum_sum().over(SERIES).alias("_block"))
    )
    centre = distinct.join(middles, on=SERIES).filter(pl.col("_window") == pl.col("_mid"))
    return (
        distinct.join(centre.select(*SERIES, "_block"), on=[*SERIES, "_block"])
        .group_by(SERIES)
        .agg(pl.col("_window").min().alias("_lo"), pl.col("_window").max().alias("_hi"))
    )


def bound_dates(rows: pl.DataFrame, bounds: DateBounds) -> pl.DataFrame:
    """Reject rows dated before `date_min` or cut off from both the data's and their series' dates."""
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
        f"date cut off from its series and the rest of the data ({lo} .. {hi}) by a gap of more than "
        f"{bounds.max_gap_days} days (SHELFCAST_MAX_DATE_GAP_DAYS)"
    )
    rows = rows.join(series_blocks(rows, bounds.max_gap_days), on=SERIES, how="left", maintain_order="left")
    outside = ~pl.col("_window").is_between(lo, hi) & ~pl.col("_window").is_between(
        pl.col("_lo"), pl.col("_hi")
    )
    return _reject(rows, outside, pl.lit(reason)).drop("_lo", "_hi")


def bound_plans(rows: pl.DataFrame, bounds: DateBounds, freq: str) -> pl.DataFrame:
    """Reject plan rows (no target value) in a period after the horizon that follows the last actual."""
    actual = pl.col(bounds.target).is_not_null()
    last = rows.filter(pl.col("_reason").is_null() & actual)["_window"].max()
    if last is None:
        return rows
    beyond = period_number(pl.col("_window"), freq) > period_number(pl.lit(last), freq) + bounds.horizon
    reason = f"plan dated beyond the horizon ({bounds.horizon} periods) after the last actual ({last})"
    return _reject(rows, ~actual & beyond, pl.lit(reason))
