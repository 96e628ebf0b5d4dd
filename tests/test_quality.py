"""Quality verdicts: each fails on bad data and passes on clean data."""

from datetime import date, timedelta

import polars as pl

from platform_assets.monitoring import quality


def batch(
    rows: int = 1000, rejected: int = 0, untargeted: int = 0, quarantined: int = 0, files: int = 9, worst=0.0
):
    return quality.IngestBatch(
        rows_in=rows,
        accepted=rows - rejected,
        rejected=rejected,
        untargeted=untargeted,
        files_read=files,
        quarantined=tuple(f"observations/bad{i}.csv: why" for i in range(quarantined)),
        ignored=(),
        worst_partition="2025-03-01",
        worst_rejected=worst,
    )


def test_ingest_batch_levels():
    assert quality.ingest_batch(batch(rejected=5)).passed
    assert quality.ingest_batch(batch(rows=0, files=0)).passed
    for kind in ("rejected", "untargeted"):
        warn = quality.ingest_batch(batch(**{kind: 50}))
        assert (warn.passed, warn.severity) == (False, "WARN")
        error = quality.ingest_batch(batch(**{kind: 500}))
        assert (error.passed, error.severity) == (False, "ERROR")
        assert error.metadata[f"{kind}_rate"] == 0.5
    # One month of a long backfill half rejected (e.g. prices negated): the whole run's rate is low.
    month = quality.ingest_batch(batch(rejected=20, worst=0.5))
    assert (month.passed, month.severity) == (False, "WARN") and "partition 2025-03-01" in month.description
    one = quality.ingest_batch(batch(quarantined=1))  # one file of ten lost: the others land
    assert (one.passed, one.severity) == (False, "WARN") and "1 of 10 files quarantined" in one.description
    every = quality.ingest_batch(batch(rows=0, quarantined=2, files=0))
    assert (every.passed, every.severity) == (False, "ERROR")


def test_untargeted_rows_are_history_rows_without_the_target():
    rows = pl.DataFrame(
        {
            "date": [date(2025, 1, d) for d in (1, 2, 3, 4)],
            "units_sold": [3.0, None, 2.0, None],  # 01-02: inside the history; 01-04: a plan row
        }
    )
    assert quality.untargeted_rows(rows, "units_sold", None) == 1
    assert quality.untargeted_rows(rows, "units_sold", date(2025, 1, 5)) == 2  # earlier runs' actuals


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
