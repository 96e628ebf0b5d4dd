"""The windows drift compares: the newest periods against the same number just before them."""

from datetime import date, timedelta

import polars as pl
import pytest

from platform_assets.monitoring.windows import drift_windows, with_scaled_target


def frame(days: int) -> pl.DataFrame:
    start = date(2025, 1, 1)
    dates = [start + timedelta(days=i) for i in range(days)]
    return pl.DataFrame({"period_date": dates * 2, "y": [1.0] * (2 * days), "scale": [2.0] * (2 * days)})


def test_windows_are_adjacent_and_disjoint():
    reference, current, bounds = drift_windows(frame(100), 28)
    assert reference["period_date"].n_unique() == current["period_date"].n_unique() == 28
    assert reference["period_date"].max() + timedelta(days=1) == current["period_date"].min()
    assert bounds["current_end"] == date(2025, 1, 1) + timedelta(days=99)


def test_future_rows_do_not_count_as_history():
    f = pl.concat([frame(60), pl.DataFrame({"period_date": [date(2025, 3, 2)], "y": [None], "scale": [1.0]})])
    _, current, bounds = drift_windows(f, 28)
    assert bounds["current_end"] == date(2025, 3, 1) == current["period_date"].max()


def test_too_short_history_is_refused():
    with pytest.raises(ValueError, match="56 periods"):
        drift_windows(frame(40), 28)


def test_scaled_target():
    assert with_scaled_target(frame(1))["y_scaled"].to_list() == [0.5, 0.5]
