"""The period grids of core/periods.py against pandas' own periods: the hand-written arithmetic (and its
dbt twin, tested on the warehouse in test_dbt_project.py) must name every date's period as pandas does."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from platform_assets.core.periods import (
    WEEKDAYS,
    base_freq,
    check_freq,
    infer_freq,
    offset_periods,
    period_date,
    period_number,
    period_of,
    week_anchor_note,
)

# Every day of 2023-2025 (leap year, year ends on every weekday nearby) plus 2,000 random days 1970-2099.
_RNG = np.random.default_rng(7)
DAYS = [date(2023, 1, 1) + timedelta(days=i) for i in range(3 * 366)] + [
    date(1970, 1, 1) + timedelta(days=int(i)) for i in _RNG.integers(0, 47_000, 2_000)
]
# Our frequency -> (pandas frequency, which end of the pandas period is our label).
PANDAS = {
    "D": ("D", "start_time"),
    "W": ("W-SUN", "start_time"),  # weeks Monday to Sunday, named by the Monday
    **{f"W-{day}": (f"W-{day}", "end_time") for day in WEEKDAYS},  # weeks ending that day, named by it
    "M": ("M", "start_time"),
    "ME": ("M", "end_time"),
}


def pandas_label(day: date, freq: str, n: int = 0) -> date:
    pfreq, end = PANDAS[freq]
    return getattr(pd.Period(day, pfreq) + n, end).date()


def labels(days: list[date], freq: str) -> list[date]:
    return pl.select(period_date(period_number(pl.lit(pl.Series(days)), freq), freq)).to_series().to_list()


@pytest.mark.parametrize("freq", PANDAS)
def test_every_day_is_labelled_as_pandas_labels_its_period(freq):
    assert labels(DAYS, freq) == [pandas_label(d, freq) for d in DAYS]


@pytest.mark.parametrize("freq", PANDAS)
def test_offsets_step_whole_periods_as_pandas_does(freq):
    for day in DAYS[::97]:
        for n in (-25, -1, 0, 1, 13):
            assert offset_periods(day, n, freq) == pandas_label(day, freq, n), (day, n)
        assert period_of(day, freq) == pandas_label(day, freq)


@pytest.mark.parametrize("freq", PANDAS)
def test_period_numbers_count_periods(freq):
    """Consecutive labels are numbered consecutively, and a label's number names it back."""
    first = period_of(date(1970, 1, 1), freq)
    grid = [offset_periods(first, n, freq) for n in range(0, 400, 7)]
    numbers = pl.select(period_number(pl.lit(pl.Series(grid)), freq)).to_series()
    assert numbers.diff().drop_nulls().to_list() == [7] * (len(grid) - 1)
    assert labels(grid, freq) == grid


def test_frequencies_are_named_canonically_and_unknown_ones_refused():
    assert [check_freq(f) for f in ("d", "W", "w-thu", "MS", "ME", None)] == [
        "D",
        "W",
        "W-THU",
        "M",
        "ME",
        None,
    ]
    assert [base_freq(f) for f in ("D", "W", "W-SAT", "M", "ME")] == ["D", "W", "W", "M", "M"]
    for bad in ("Q", "W-XYZ", "2W", "MS-1"):
        with pytest.raises(ValueError, match="W-MON .. W-SUN"):
            check_freq(bad)


def _series(days: list[date]) -> pl.DataFrame:
    return pl.DataFrame({"product_id": "A", "store_id": "all", "date": days})


@pytest.mark.parametrize(
    ("first", "freq"), [(date(2024, 1, 1), "W"), (date(2024, 1, 4), "W-THU"), (date(2024, 1, 6), "W-SAT")]
)
def test_weekly_anchor_is_the_dates_most_common_weekday(first, freq):
    days = [first + timedelta(weeks=i) for i in range(20)]
    days[5] += timedelta(days=-1)  # a week dated a day early (a holiday) does not move the anchor
    assert infer_freq(_series(days)) == freq


def test_an_ambiguous_week_anchor_is_said_not_guessed_silently():
    """One dated-early week is no doubt (above); weeks split 70/30 between Thursday and Saturday are:
    the note names the weekdays' shares, the grid taken and the setting to choose another."""
    thursdays = [date(2024, 1, 4) + timedelta(weeks=i) for i in range(20)]
    saturdays = [date(2024, 1, 6) + timedelta(weeks=i) for i in range(20, 29)]
    assert week_anchor_note(pl.Series(thursdays[:19] + saturdays[:1]), "W-THU") is None
    note = week_anchor_note(pl.Series(thursdays + saturdays), infer_freq(_series(thursdays + saturdays)))
    assert note == (
        "weekly dates fall on several weekdays (Thu 69%, Sat 31%): weeks are labelled W-THU, the "
        "commonest; set SHELFCAST_FREQ=W-<DAY> (the weekday your weeks end on) if that is not your week"
    )
    assert week_anchor_note(pl.Series(thursdays + saturdays), "D") is None


def test_monthly_dates_on_month_ends_keep_them():
    starts = pl.date_range(date(2019, 1, 1), date(2021, 12, 1), "1mo", eager=True)
    assert infer_freq(_series(starts.to_list())) == "M"
    assert infer_freq(_series(starts.dt.month_end().to_list())) == "ME"
    assert infer_freq(_series((starts + timedelta(days=14)).to_list())) == "M"  # mid-month: named by the 1st


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ("3mo", "quarterly data: shelfcast has no quarterly periods"),
        ("1y", "yearly data"),
        ("6mo", "half-yearly"),
    ],
)
def test_quarterly_or_yearly_dates_are_named_with_what_to_do(step, said):
    """A grid shelfcast lacks is named in the one line the run stops with, not left as a bare gap."""
    days = pl.date_range(date(1990, 1, 1), date(2019, 1, 1), step, eager=True).to_list()
    with pytest.raises(ValueError, match=said) as err:
        infer_freq(_series(days))
    assert "daily, weekly or monthly only" in str(err.value) and "\n" not in str(err.value)


def test_sparse_dates_point_at_the_frequency_setting():
    """Daily rows written only on days with sales (a median gap of a few days) fit no grid by
    inference: the line says to set SHELFCAST_FREQ."""
    days = [date(2024, 1, 1) + timedelta(days=4 * i) for i in range(30)]
    with pytest.raises(ValueError, match="median 4 days apart.*set SHELFCAST_FREQ to your period"):
        infer_freq(_series(days))
