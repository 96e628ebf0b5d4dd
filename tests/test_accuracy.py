"""Accuracy decay: the live WAPE of the champion's forecasts against its backtest WAPE."""

from datetime import date, timedelta

import polars as pl
import pytest

from platform_assets.monitoring.accuracy import by_horizon, decay, recent_accuracy


def accuracy_rows(
    live_wape: float, backtest_wape: float, generations: int = 5, horizon: int = 3
) -> pl.DataFrame:
    """Rows shaped like monitoring.forecast_accuracy: one per generation and horizon step."""
    rows = []
    for g in range(generations):
        for h in range(1, horizon + 1):
            actual = 100.0 * h  # longer horizons weigh more
            rows.append(
                {
                    "generation_id": f"g{g}",
                    "model_version": "3",
                    "horizon": h,
                    "target_date": date(2025, 1, 1) + timedelta(days=g + h),
                    "n_forecasts": 10,
                    "abs_error": live_wape * actual,
                    "actual_total": actual,
                    "mase": 0.8,
                    "n_mase": 10,
                    "n_covered": 8,
                    "backtest_wape": backtest_wape,
                }
            )
    return pl.DataFrame(rows)


def test_decay_fails_when_live_error_exceeds_the_factor():
    verdict = decay(accuracy_rows(live_wape=0.60, backtest_wape=0.40), factor=1.3)
    assert not verdict.passed
    assert verdict.metadata["live_wape"] == pytest.approx(0.60)
    assert verdict.metadata["ratio"] == pytest.approx(1.5)


def test_decay_passes_on_error_like_the_backtest():
    assert decay(accuracy_rows(live_wape=0.44, backtest_wape=0.40), factor=1.3).passed


def test_no_scored_forecasts_passes_with_a_reason():
    verdict = decay(accuracy_rows(0.5, 0.4).head(0), factor=1.3)
    assert verdict.passed and "no scored" in verdict.description


def test_by_horizon_reaggregates_the_sums():
    table = by_horizon(accuracy_rows(live_wape=0.5, backtest_wape=0.4))
    assert table["horizon"].to_list() == [1, 2, 3]
    assert table["wape"].to_list() == pytest.approx([0.5] * 3)
    assert table["coverage"].to_list() == pytest.approx([0.8] * 3)


def test_by_horizon_scores_each_extra_band_over_the_generations_that_carried_it():
    rows = accuracy_rows(live_wape=0.5, backtest_wape=0.4).with_columns(
        # generation g0 was made before the 95% band was configured: no band, no score
        pl.when(pl.col("generation_id") == "g0").then(None).otherwise(9).alias("n_covered_95")
    )
    table = by_horizon(rows)
    assert table["coverage_95"].to_list() == pytest.approx([0.9] * 3)  # 4 x 9 of 4 x 10, not of 5 x 10
    assert table["coverage"].to_list() == pytest.approx([0.8] * 3)


def test_recent_accuracy_keeps_the_champion_and_the_newest_target_dates():
    rows = pl.concat(
        [accuracy_rows(0.5, 0.4), accuracy_rows(0.9, 0.4).with_columns(pl.lit("2").alias("model_version"))]
    )
    recent = recent_accuracy(rows, "3", periods=3)
    assert set(recent["model_version"]) == {"3"}
    assert recent["target_date"].n_unique() == 3
    assert recent["target_date"].max() == rows["target_date"].max()
