"""Which rows drift is measured on: the newest window of periods against the champion's training
reference window (the newest periods it was trained on)."""

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


def window_bounds(periods: pl.Series, window: int, reference_end: date | None = None) -> dict:
    """The reference and current windows' first and last periods, from the sorted distinct periods with
    actuals (see `drift_windows`): what a warehouse query needs to read only those rows."""
    periods = periods.unique().sort()
    if periods.len() < 2 * window:
        raise ValueError(f"drift needs {2 * window} periods of history, found {periods.len()}")
    current_start = periods[-window]
    last_before_current = periods[-window - 1]
    end = last_before_current if reference_end is None else min(reference_end, last_before_current)
    eligible = periods.filter(periods <= end)
    if eligible.len() < window:  # a champion trained on too little history: fall back to adjacent
        eligible = periods.filter(periods <= last_before_current)
    return {
        "reference_start": eligible[-window],
        "reference_end": eligible[-1],
        "current_start": current_start,
        "current_end": periods[-1],
    }


def split_windows(rows: pl.DataFrame, bounds: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(reference, current) rows of `rows` by the windows in `bounds`."""
    current = rows.filter(pl.col("period_date").is_between(bounds["current_start"], bounds["current_end"]))
    reference = rows.filter(
        pl.col("period_date").is_between(bounds["reference_start"], bounds["reference_end"])
    )
    return reference, current


def drift_windows(
    features: pl.DataFrame, window: int, reference_end: date | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(reference, current, bounds). Current: the last `window` periods with actuals. Reference: the
    `window` periods ending at `reference_end` (the champion's newest training period), or just before
    the current window when there is no champion or it was trained on part of the current window.

    Anchoring the reference to training means a retrain on drifted data moves the reference with it:
    drift measured against what the model knows, and no alarm once the model has learnt the change.
    """
    bounds = window_bounds(features.filter(pl.col("y").is_not_null())["period_date"], window, reference_end)
    reference, current = split_windows(features, bounds)
    return reference, current, bounds
