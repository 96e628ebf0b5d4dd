"""Periods: the daily, weekly and monthly grids every layer shares (the dbt twin is
dbt_project/macros/periods.sql). A period is named by its first day; weeks start on Monday."""

from datetime import date, timedelta

import polars as pl

FREQS = ("D", "W", "M")
# Periods in a season: what seasonal lags and seasonal naive step back by.
SEASON = {"D": 7, "W": 52, "M": 12}
# At least one period, in days: date arithmetic in SQL that must reach back a whole period.
MAX_PERIOD_DAYS = {"D": 1, "W": 7, "M": 31}
# The median gap between a series' dates, in days, that each period shows as (`infer_freq`).
GAP_DAYS = {"D": (1, 2), "W": (6, 8), "M": (27, 32)}


def check_freq(freq: str | None) -> str | None:
    """Refuse a frequency the warehouse cannot build a period grid for."""
    if freq is not None and freq not in FREQS:
        raise ValueError(f"freq={freq!r}: expected one of {', '.join(FREQS)}")
    return freq


def period_number(col: pl.Expr, freq: str) -> pl.Expr:
    """An integer that grows by one per period, so period arithmetic is plain subtraction."""
    if freq == "D":
        return col.cast(pl.Int32)
    if freq == "W":
        return (col.cast(pl.Int32) + 3) // 7  # 1970-01-01 is a Thursday: weeks counted from Mondays
    return col.dt.year().cast(pl.Int32) * 12 + col.dt.month().cast(pl.Int32) - 1


def numbered(frame: pl.DataFrame, freq: str) -> pl.DataFrame:
    """`frame` with `_pn`, the period number of its period_date."""
    return frame.with_columns(period_number(pl.col("period_date"), freq).alias("_pn"))


def offset_periods(day: date, n: int, freq: str) -> date:
    """The period n periods after (n < 0: before) `day`."""
    step = {"D": f"{n}d", "W": f"{7 * n}d", "M": f"{n}mo"}[freq]
    return pl.Series([day]).dt.offset_by(step)[0]


def period_start(day: date, freq: str) -> date:
    """The first day of the period holding `day` (weeks start on Monday)."""
    if freq == "D":
        return day
    if freq == "W":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def month_windows(start: date, end: date) -> list[tuple[str, date, date]]:
    """Monthly ingest partition keys and [first day, first day of next month) windows over [start, end)."""
    windows, cur = [], date(start.year, start.month, 1)
    while cur < end:
        nxt = date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
        windows.append((cur.isoformat(), cur, nxt))
        cur = nxt
    return windows


def infer_freq(observations: pl.DataFrame) -> str:
    """D, W or M from the median gap (days) between consecutive distinct dates of each series."""
    gaps = (
        observations.select("product_id", "store_id", "date")
        .unique()
        .sort("product_id", "store_id", "date")
        .select(pl.col("date").diff().dt.total_days().over("product_id", "store_id").alias("gap"))
        .drop_nulls()
        .to_series()
    )
    if gaps.len() == 0:
        raise ValueError("cannot infer the frequency: no series has two dates; set SHELFCAST_FREQ")
    median = gaps.median()
    for freq, (lo, hi) in GAP_DAYS.items():
        if lo <= median <= hi:
            return freq
    raise ValueError(f"cannot infer the frequency: median gap {median} days is not daily, weekly or monthly")
