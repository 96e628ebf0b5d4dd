"""Quality verdicts: each fails on bad data and passes on clean data."""

from datetime import date, timedelta

import polars as pl

from platform_assets.monitoring import quality


def test_rejected_rate_levels():
    assert quality.rejected_rate(1000, 5).passed
    warn = quality.rejected_rate(1000, 50)
    assert (warn.passed, warn.severity) == (False, "WARN")
    error = quality.rejected_rate(100, 50)
    assert (error.passed, error.severity) == (False, "ERROR")
    assert error.metadata["rejected_rate"] == 50 / 150
    assert quality.rejected_rate(0, 0).passed


def counts(values: list[int]) -> pl.DataFrame:
    start = date(2025, 1, 1)
    return pl.DataFrame({"period_date": [start + timedelta(days=i) for i in range(len(values))], "n": values})


def test_volume_anomaly_flags_a_drop_and_a_jump():
    assert quality.volume_anomaly(counts([100] * 28 + [95])).passed
    drop = quality.volume_anomaly(counts([100] * 28 + [30]))
    assert not drop.passed and drop.metadata["ratio"] == 0.3
    assert not quality.volume_anomaly(counts([100] * 28 + [250])).passed
    # Order of the input does not matter: the newest period is the latest date.
    assert not quality.volume_anomaly(counts([100] * 28 + [30]).reverse()).passed


def test_freshness():
    today = date(2026, 11, 23)
    assert quality.freshness(today - timedelta(days=1), today, 3).passed
    stale = quality.freshness(today - timedelta(days=10), today, 3)
    assert not stale.passed and stale.metadata["age_days"] == 10
    assert quality.freshness(None, today, 3).severity == "ERROR"
