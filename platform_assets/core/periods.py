"""Periods: the daily, weekly and monthly grids every layer shares (the dbt twin is
dbt_project/macros/periods.sql).

A frequency names a grid in pandas terms: a base (D, W, M) and, for weeks, an anchor weekday. Every
period is numbered (`period_number`, +1 per period) and named by one date, its label (`period_date`,
what the marts' `period_date` and the forecasts' `target_date` hold):

    D       days
    W       weeks from Monday to Sunday, labelled by the Monday
    W-THU   weeks ending on a Thursday (Friday to Thursday), labelled by the Thursday; any weekday
    M       months labelled by their first day (MS is the same grid)
    ME      months labelled by their last day

so weekly data dated on Thursdays, or monthly data dated on month ends, keeps its own dates.
"""

import functools
from dataclasses import dataclass
from datetime import date

import polars as pl

FREQS = ("D", "W", "M")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# Periods in a season: what seasonal lags and seasonal naive step back by.
SEASON = {"D": 7, "W": 52, "M": 12}
# At least one period, in days: date arithmetic in SQL that must reach back a whole period.
MAX_PERIOD_DAYS = {"D": 1, "W": 7, "M": 31}
# The median gap between a series' dates, in days, that each period shows as (`infer_freq`).
GAP_DAYS = {"D": (1, 2), "W": (6, 8), "M": (27, 32)}
# Weekly dates whose commonest weekday holds less than this share make the inferred anchor a guess.
CLEAR_ANCHOR_SHARE = 0.9
# 1970-01-01 (day 0 of a Date) is a Thursday: weekday 3 counting from Monday = 0.
_EPOCH_WEEKDAY = 3


@dataclass(frozen=True)
class Grid:
    """A frequency parsed: its base, the weekday weeks are labelled by (0 = Monday) and whether the
    label is the period's last day rather than its first."""

    base: str
    anchor: int = 0
    label_end: bool = False

    @property
    def first_weekday(self) -> int:
        """The weekday a week starts on."""
        return (self.anchor + 1) % 7 if self.label_end else self.anchor


@functools.cache
def period_grid(freq: str) -> Grid:
    """The grid a frequency names; a ValueError names the frequencies there are."""
    if freq in ("D", "W", "M", "MS"):
        return Grid(freq[0])
    if freq == "ME":
        return Grid("M", label_end=True)
    if freq.startswith("W-") and freq[2:] in WEEKDAYS:
        return Grid("W", WEEKDAYS.index(freq[2:]), label_end=True)
    raise ValueError(
        f"freq={freq!r}: expected D, W (weeks from Monday), W-MON .. W-SUN (weeks ending that day), "
        "M (months by their first day) or ME (by their last day)"
    )


def check_freq(freq: str | None) -> str | None:
    """The canonical name of a configured frequency (case-insensitive; MS is M), refusing one the
    warehouse cannot build a period grid for."""
    if freq is None:
        return None
    freq = freq.strip().upper()
    period_grid(freq)
    return "M" if freq == "MS" else freq


def base_freq(freq: str) -> str:
    """D, W or M: what the per-frequency settings (SEASON, lags, windows, calendar features) are keyed by."""
    return period_grid(freq).base


def week_freq(weekday: int) -> str:
    """The weekly frequency whose labels fall on `weekday` (0 = Monday): W for Monday, as always."""
    return "W" if weekday == 0 else f"W-{WEEKDAYS[weekday]}"


def period_number(col: pl.Expr, freq: str) -> pl.Expr:
    """An integer that grows by one per period, so period arithmetic is plain subtraction."""
    g = period_grid(freq)
    if g.base == "D":
        return col.cast(pl.Int32)
    if g.base == "W":
        return (col.cast(pl.Int32) + _EPOCH_WEEKDAY - g.first_weekday) // 7
    return col.dt.year().cast(pl.Int32) * 12 + col.dt.month().cast(pl.Int32) - 1


def period_date(number: pl.Expr, freq: str) -> pl.Expr:
    """The label of period `number` (the inverse of `period_number` on labels)."""
    g = period_grid(freq)
    if g.base == "D":
        return number.cast(pl.Int32).cast(pl.Date)
    if g.base == "W":
        first = number * 7 - _EPOCH_WEEKDAY + g.first_weekday
        return (first + (6 if g.label_end else 0)).cast(pl.Int32).cast(pl.Date)
    month = pl.date(number // 12, number % 12 + 1, 1)
    return month.dt.month_end() if g.label_end else month


def numbered(frame: pl.DataFrame, freq: str) -> pl.DataFrame:
    """`frame` with `_pn`, the period number of its period_date."""
    return frame.with_columns(period_number(pl.col("period_date"), freq).alias("_pn"))


@functools.lru_cache(maxsize=4096)  # pure, and asked the same few dates again by every small build
def offset_periods(day: date, n: int, freq: str) -> date:
    """The label of the period n periods after (n < 0: before) the one holding `day`."""
    return pl.select(period_date(period_number(pl.lit(day), freq) + n, freq)).item()


def period_of(day: date, freq: str) -> date:
    """The label of the period holding `day`."""
    return offset_periods(day, 0, freq)


def month_windows(start: date, end: date) -> list[tuple[str, date, date]]:
    """Monthly ingest partition keys and [first day, first day of next month) windows over [start, end)."""
    windows, cur = [], date(start.year, start.month, 1)
    while cur < end:
        nxt = date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
        windows.append((cur.isoformat(), cur, nxt))
        cur = nxt
    return windows


def infer_freq(observations: pl.DataFrame) -> str:
    """The frequency the dates follow: D, W or M from the median gap (days) between consecutive distinct
    dates of each series; weeks anchored on the dates' most common weekday, months labelled by their
    last day when most dates are month ends."""
    series = ("product_id", "store_id")
    dated = observations.select(*series, "date").unique().sort(*series, "date")
    gaps = (
        dated.select(pl.col("date").diff().dt.total_days().over(series).alias("gap")).drop_nulls().to_series()
    )
    if gaps.len() == 0:
        raise ValueError("cannot infer the frequency: no series has two dates; set SHELFCAST_FREQ")
    median = gaps.median()
    base = next((freq for freq, (lo, hi) in GAP_DAYS.items() if lo <= median <= hi), None)
    if base is None:
        raise ValueError(unsupported_gap(median))
    days = dated["date"]
    if base == "W":
        return week_freq(days.dt.weekday().mode().min() - 1)  # polars counts Monday as 1; ties: earliest
    if base == "M" and (days == days.dt.month_end()).mean() > 0.5:
        return "ME"
    return base


# Median gaps (days) of grids shelfcast has no periods for: named so the user knows what was seen.
UNSUPPORTED_GAP_DAYS = {"quarterly": (88, 93), "half-yearly": (180, 185), "yearly": (364, 367)}


def unsupported_gap(median: float) -> str:
    """Why no grid fits a median gap between a series' dates, and what to do: one line. Quarterly or
    yearly data has no grid; daily, weekly or monthly data recorded only when something sold (sparse
    dates) does, once SHELFCAST_FREQ names it."""
    seen = next((name for name, (lo, hi) in UNSUPPORTED_GAP_DAYS.items() if lo <= median <= hi), None)
    if seen:
        return (
            f"cannot infer the frequency: the dates of a series are a median {median:g} days apart, "
            f"{seen} data: shelfcast has no {seen} periods (daily, weekly or monthly only); land the "
            "monthly (or finer) numbers if you have them"
        )
    return (
        f"cannot infer the frequency: the dates of a series are a median {median:g} days apart, not "
        "daily, weekly or monthly; if rows exist only for periods with sales, set SHELFCAST_FREQ to "
        "your period (D, W, W-<DAY> for weeks ending that day, M or ME)"
    )


def week_anchor_note(dates: pl.Series, freq: str) -> str | None:
    """One line when weekly `dates` fall on several weekdays: the anchor `infer_freq` took (the
    commonest weekday) is then a guess, and a date on another weekday joins the week it falls in, so
    the user should confirm the week their data means. None for a clear anchor or another grid."""
    if period_grid(freq).base != "W" or dates.is_empty():
        return None
    shares = dates.unique().dt.weekday().value_counts(normalize=True, sort=True, name="share")
    if shares["share"][0] >= CLEAR_ANCHOR_SHARE:
        return None
    listing = ", ".join(f"{WEEKDAYS[day - 1].title()} {share:.0%}" for day, share in shares.head(3).rows())
    return (
        f"weekly dates fall on several weekdays ({listing}): weeks are labelled {freq}, the commonest; "
        "set SHELFCAST_FREQ=W-<DAY> (the weekday your weeks end on) if that is not your week"
    )
