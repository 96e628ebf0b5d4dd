"""Forecast accuracy metrics, and the one function that scores a backtest for every method.

Conventions (chosen once, used everywhere so models are compared on equal terms):
- WAPE = sum|e| / sum|y|: volume-weighted, so slow movers don't dominate; 0/0 is 0.
- sMAPE on the 0..2 scale: mean of 2|e| / (|y| + |yhat|), a row with y = yhat = 0 counts as 0 (a
  perfect forecast of no sales is not an error).
- MASE pooled: sum|e| / sum(d), where d is each row's series scale (the in-sample seasonal-naive MAE
  of that series' training history). Pooling rather than averaging per-series ratios keeps a
  constant series (d = 0) from producing an infinite score while still normalising across series.
- RMSE in target units; interval coverage at level L = share of rows inside its band (p10 <= y <= p90
  for 80, target 0.8), named `coverage_80`, and per demand segment `coverage_80_intermittent`.
"""

import math

import numpy as np
import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import bounds, coverage_metric, levels_in

METHODS = {
    "": "p50",
    "naive_": "naive",
    "seasonal_naive_": "seasonal_naive",
    "recent_median_": "recent_median",
}
POINT_METRICS = ("wape", "smape", "mase", "rmse")


def _arrays(*values) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def wape(y, yhat) -> float:
    y, yhat = _arrays(y, yhat)
    err, vol = np.abs(y - yhat).sum(), np.abs(y).sum()
    if vol == 0:
        return 0.0 if err == 0 else math.inf
    return float(err / vol)


def smape(y, yhat) -> float:
    y, yhat = _arrays(y, yhat)
    if y.size == 0:
        return math.nan
    denom = np.abs(y) + np.abs(yhat)
    ratio = np.divide(2 * np.abs(y - yhat), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(ratio.mean())


def mase(y, yhat, scale) -> float:
    y, yhat, scale = _arrays(y, yhat, scale)
    err, denom = np.abs(y - yhat).sum(), scale.sum()
    if denom == 0:
        return 0.0 if err == 0 else math.inf
    return float(err / denom)


def rmse(y, yhat) -> float:
    y, yhat = _arrays(y, yhat)
    return float(np.sqrt(np.mean((y - yhat) ** 2))) if y.size else math.nan


def coverage(y, lower, upper) -> float:
    y, lower, upper = _arrays(y, lower, upper)
    return float(np.mean((lower <= y) & (y <= upper))) if y.size else math.nan


def in_sample_scale(history: pl.DataFrame, keys: list[str], season: int) -> pl.DataFrame:
    """Per series MASE denominator: mean |y_t - y_{t-season}| over its history (rows sorted by period).

    Series shorter than one season fall back to the lag-1 (naive) MAE; a series with a single value
    gets scale 0, which the pooled MASE tolerates.
    """
    lagged = history.with_columns(
        (pl.col("y") - pl.col("y").shift(season).over(keys)).abs().alias("_ds"),
        (pl.col("y") - pl.col("y").shift(1).over(keys)).abs().alias("_d1"),
    )
    return lagged.group_by(keys, maintain_order=True).agg(
        pl.coalesce(pl.col("_ds").mean(), pl.col("_d1").mean(), pl.lit(0.0)).alias("mase_scale")
    )


def _point_metrics(frame: pl.DataFrame, pred: str) -> dict[str, float]:
    y, yhat, scale = frame["y"], frame[pred], frame["mase_scale"]
    return {
        "wape": wape(y, yhat),
        "smape": smape(y, yhat),
        "mase": mase(y, yhat, scale),
        "rmse": rmse(y, yhat),
    }


def backtest_metrics(backtest: pl.DataFrame) -> dict[str, float]:
    """Metrics of the model (p50) and each baseline in the frame, each averaged over the backtest origins.

    Coverage is measured on the latest origin only: its intervals were calibrated on earlier origins,
    so it is the one honest out-of-sample estimate.
    """
    origins = backtest["origin"].unique().sort()
    out: dict[str, float] = {}
    for prefix, column in METHODS.items():
        if column not in backtest.columns:  # a backtest stored before this baseline existed
            continue
        per_origin = [_point_metrics(backtest.filter(pl.col("origin") == o), column) for o in origins]
        for name in POINT_METRICS:
            out[f"{prefix}{name}"] = float(np.mean([m[name] for m in per_origin])) if per_origin else math.nan
    last = backtest.filter(pl.col("origin") == origins.max()) if len(origins) else backtest
    for level in levels_in(backtest.columns):
        lower, upper = bounds(level)
        out[coverage_metric(level)] = coverage(last["y"], last[lower], last[upper])
    return out


def segment_coverage(backtest: pl.DataFrame, segments: pl.DataFrame) -> dict[str, float]:
    """Coverage of every level per demand segment at the latest origin (`coverage_95_lumpy`), the
    segments read from `segments` (keys, period_date, origin, segment): a pooled coverage near nominal
    can hide intermittent series far below it and smooth ones far above."""
    on = [*KEYS, "period_date", "origin"]
    last = backtest.filter(pl.col("origin") == pl.col("origin").max()).join(
        segments.select(*on, "segment"), on=on, how="left"
    )
    out = {}
    for (segment,), part in last.group_by("segment"):
        for level in levels_in(backtest.columns):
            lower, upper = bounds(level)
            out[coverage_metric(level, segment)] = coverage(part["y"], part[lower], part[upper])
    return dict(sorted(out.items()))
