"""The windows drift compares: the newest periods against the champion's newest training periods."""

from datetime import date, timedelta

import polars as pl
import pytest

from platform_assets.monitoring.windows import drift_windows

START = date(2025, 1, 1)


def frame(days: int) -> pl.DataFrame:
    dates = [START + timedelta(days=i) for i in range(days)]
    return pl.DataFrame({"period_date": dates * 2, "y": [1.0] * (2 * days)})


def test_without_champion_windows_are_adjacent_and_disjoint():
    reference, current, bounds = drift_windows(frame(100), 28)
    assert reference["period_date"].n_unique() == current["period_date"].n_unique() == 28
    assert reference["period_date"].max() + timedelta(days=1) == current["period_date"].min()
    assert bounds["current_end"] == START + timedelta(days=99)


def test_reference_ends_where_the_champion_was_trained():
    trained_until = START + timedelta(days=49)
    reference, current, bounds = drift_windows(frame(100), 28, reference_end=trained_until)
    assert bounds["reference_end"] == trained_until == reference["period_date"].max()
    assert reference["period_date"].n_unique() == 28
    assert current["period_date"].min() == START + timedelta(days=72)


def test_a_champion_trained_on_the_current_window_compares_adjacent_windows():
    _, _, recent = drift_windows(frame(100), 28, reference_end=START + timedelta(days=99))
    _, _, adjacent = drift_windows(frame(100), 28)
    assert recent == adjacent


def test_future_rows_do_not_count_as_history():
    f = pl.concat([frame(60), pl.DataFrame({"period_date": [date(2025, 3, 2)], "y": [None]})])
    _, current, bounds = drift_windows(f, 28)
    assert bounds["current_end"] == date(2025, 3, 1) == current["period_date"].max()


def test_too_short_history_is_refused():
    with pytest.raises(ValueError, match="56 periods"):
        drift_windows(frame(40), 28)
