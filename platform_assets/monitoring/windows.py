"""Which rows drift is measured on: the newest window of periods against the window before it."""

import polars as pl

from platform_assets.features import CALENDAR, FeatureConfig, feature_columns

# Deterministic functions of the date: they move between any two windows without meaning anything.
NOT_MONITORED = {c for cols in CALENDAR.values() for c in cols} | {"periods_since_start"}


def monitored_columns(features: pl.DataFrame, cfg: FeatureConfig) -> list[str]:
    """Every model feature that can drift, the target, and the target as the model sees it."""
    names, _ = feature_columns(cfg, features.columns)
    return [c for c in names if c not in NOT_MONITORED] + ["y", "y_scaled"]


def with_scaled_target(features: pl.DataFrame) -> pl.DataFrame:
    """y / scale: pooled over series of every size, a level shift of some series hides in raw y but
    shows in the ratio to each series' own point-in-time level (what the model is trained on)."""
    return features.with_columns((pl.col("y") / pl.col("scale")).alias("y_scaled"))


def drift_windows(features: pl.DataFrame, window: int) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(reference, current, bounds): the last `window` periods with actuals, and the `window` before."""
    periods = features.filter(pl.col("y").is_not_null())["period_date"].unique().sort()
    if periods.len() < 2 * window:
        raise ValueError(f"drift needs {2 * window} periods of history, found {periods.len()}")
    current_start, reference_start = periods[-window], periods[-2 * window]
    current = features.filter(pl.col("period_date").is_between(current_start, periods[-1]))
    reference = features.filter(
        pl.col("period_date").is_between(reference_start, current_start, closed="left")
    )
    bounds = {
        "reference_start": reference_start,
        "current_start": current_start,
        "current_end": periods[-1],
    }
    return reference, current, bounds
