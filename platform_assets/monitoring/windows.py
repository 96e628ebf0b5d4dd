"""Which rows drift is measured on: the newest window of periods against the champion's training
reference window (the newest periods it was trained on, or the same weeks a year before)."""

from datetime import date

import polars as pl

from platform_assets.features.columns import CALENDAR, PERIODS_SINCE_START, feature_columns
from platform_assets.features.config import FeatureConfig

# Deterministic functions of the date: they move between any two windows without meaning anything.
NOT_MONITORED = {c.name for cols in CALENDAR.values() for c in cols} | {PERIODS_SINCE_START.name}


def monitored_columns(features: pl.DataFrame, cfg: FeatureConfig) -> list[str]:
    """Every model feature that can drift, and the target."""
    names, _ = feature_columns(cfg, features.columns)
    return [c for c in names if c not in NOT_MONITORED] + ["y"]


class ShortHistory(ValueError):
    """Too few periods with actuals for two windows: drift is not judged yet (a year of weekly data
    with the default 28-period window), which is no failure of the data or of the run."""


def window_bounds(
    periods: pl.Series, window: int, reference_end: date | None = None, season: int = 0
) -> dict:
    """The reference and current windows' first and last periods, from the distinct periods with
    actuals: what a warehouse query needs to read only those rows.

    Current: the last `window` periods. Reference: `window` periods ending at `reference_end` (the
    champion's newest training period), or just before the current window when there is no champion
    or it was trained on part of the current window. A window shorter than a `season` (28 weeks of
    a 52-week year) would compare summer with winter and call the season drift: the reference is then
    the current window one or more whole seasons back (the nearest that ends by `reference_end`),
    when the history reaches that far.

    Anchoring the reference to training means a retrain on drifted data moves the reference with it:
    drift measured against what the model knows, and no alarm once the model has learnt the change.
    """
    periods = periods.unique().sort()
    n = periods.len()
    if n < 2 * window:
        raise ShortHistory(
            f"drift needs {2 * window} periods of history (two windows of SHELFCAST_DRIFT_WINDOW, at least "
            f"SHELFCAST_HORIZON each), found {n}: not judged until the data reaches it"
        )
    last_before_current = periods[-window - 1]
    end = last_before_current if reference_end is None else min(reference_end, last_before_current)
    starts = [n - window - k * season for k in range(1, n // season + 1)] if 0 < window < season else []
    start = next((i for i in starts if i >= 0 and periods[i + window - 1] <= end), None)
    if start is None:
        eligible = periods.filter(periods <= end)
        if eligible.len() < window:  # a champion trained on too little history: fall back to adjacent
            eligible = periods.filter(periods <= last_before_current)
        start = periods.search_sorted(eligible[-window])
    return {
        "reference_start": periods[start],
        "reference_end": periods[start + window - 1],
        "current_start": periods[-window],
        "current_end": periods[-1],
    }


def split_windows(rows: pl.DataFrame, bounds: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(reference, current) rows of `rows` by the windows in `bounds`."""
    current = rows.filter(pl.col("period_date").is_between(bounds["current_start"], bounds["current_end"]))
    reference = rows.filter(
        pl.col("period_date").is_between(bounds["reference_start"], bounds["reference_end"])
    )
    return reference, current
