"""The rolling-origin backtest: what the promotion gate and the reported metrics are computed from.

Origins o_i = T - H*(i+1) for i < n_origins (T = last actual period). For each origin the model is fit
on rows dated <= o_i and scored on o_i+1 .. o_i+H next to the baselines on exactly the same rows:
naive (the last actual value at the origin), seasonal naive (the last season before the origin,
repeated; series with less than a season of history fall back to naive) and the recent median. The
bands (every interval level) are conformal: quantiles of scaled backtest residuals per horizon step and
demand segment (intervals.py), calibrated for each origin on the other origins, so the latest origin's
coverage is measured on intervals fitted only on earlier ones.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import band_columns
from platform_assets.core.periods import period_number
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.intervals import Band, calibrate, with_intervals
from platform_assets.modeling.metrics import in_sample_scale
from platform_assets.modeling.train_config import TrainConfig


def backtest_columns(levels: tuple[float, ...]) -> list[str]:
    """The backtest's columns (`ml.backtest_predictions` adds the model version)."""
    return [
        *KEYS, "period_date", "origin", "horizon", "y", *band_columns(levels),
        "naive", "seasonal_naive", "recent_median", "mase_scale",
    ]  # fmt: skip


@dataclass(frozen=True)
class FitArrays:
    """One matrix for every fit: each origin's fit takes a row slice of it, not a filtered frame copy."""

    matrix: np.ndarray
    z: np.ndarray
    weight: np.ndarray | None
    period: np.ndarray  # each row's period number


def baselines(
    history: pl.DataFrame, window: pl.DataFrame, origin_pn: int, season: int, recent: int
) -> pl.DataFrame:
    """naive, seasonal_naive, recent_median and the MASE scale for `window` rows, from history up to
    the origin only. recent_median (the median of the last `recent` periods' actuals) is the bar on
    intermittent demand, where any mean-like forecast loses to "mostly nothing" on WAPE."""
    # Lazy, and the seasonal source limited to the last season: at 50k series `history` is 36M rows and
    # eager copies of it per origin cost several GB (the 50k scale bench's training spikes).
    seen = history.lazy().filter(pl.col("_pn") <= origin_pn)
    last = seen.group_by(KEYS).agg(pl.col("y").drop_nulls().last().alias("naive"))
    median = (
        seen.filter(pl.col("_pn") > origin_pn - recent)
        .group_by(KEYS)
        .agg(pl.col("y").median().alias("recent_median"))
    )
    seasonal = seen.filter(pl.col("_pn") > origin_pn - season).select(
        *KEYS, pl.col("_pn").alias("_src"), pl.col("y").alias("_snaive")
    )
    scale = in_sample_scale(seen.select(*KEYS, "y").collect(), KEYS, season)
    source = origin_pn - season + 1 + (pl.col("horizon") - 1) % season
    return (
        window.lazy()
        .with_columns(source.cast(pl.Int32).alias("_src"))
        .join(last, on=KEYS, how="left", maintain_order="left")
        .join(median, on=KEYS, how="left", maintain_order="left")
        .join(seasonal, on=[*KEYS, "_src"], how="left", maintain_order="left")
        .join(scale.lazy(), on=KEYS, how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("_snaive", "naive").alias("seasonal_naive"),
            pl.coalesce("recent_median", "naive").alias("recent_median"),
        )
        .drop("_src", "_snaive")
        .collect()
    )


def residual_offsets(
    backtest: pl.DataFrame, horizon: int, levels: tuple[float, ...], exclude_origin: date | None = None
) -> Band:
    """Conformal offsets from the scaled residuals of every origin but `exclude_origin`, per segment
    where `backtest` has one."""
    rows = backtest if exclude_origin is None else backtest.filter(pl.col("origin") != exclude_origin)
    segment = ["segment"] if "segment" in rows.columns else []
    residuals = rows.select("horizon", *segment, ((pl.col("y") - pl.col("p50")) / pl.col("scale")).alias("r"))
    return calibrate(residuals, horizon, levels)


def origin_points(
    rows: pl.DataFrame,
    history: pl.DataFrame,
    base: Forecaster,
    rounds: int,
    arrays: FitArrays,
    origins: list[date],
    at_origin: Callable[[pl.DataFrame, int], pl.DataFrame],
    cfg: TrainConfig,
) -> pl.DataFrame:
    """For each origin, the p50 of a fit on the rows up to it, over the H periods after it, next to
    the baselines; every origin stacked. `at_origin` turns rows after an origin into forecasts made
    at it (true horizon, origin features read there)."""
    recent = cfg.feature_config.windows[1]
    windows = []
    for number, origin in enumerate(origins, start=1):
        origin_pn = pl.select(period_number(pl.lit(origin), cfg.freq)).item()
        window = at_origin(
            rows.filter(pl.col("_pn").is_between(origin_pn + 1, origin_pn + cfg.horizon)), origin_pn
        )
        take = np.flatnonzero(arrays.period <= origin_pn)
        weight = None if arrays.weight is None else arrays.weight[take]
        label = f"backtest fit {number}/{len(origins)} (origin {origin})"
        model = base.fit_arrays(arrays.matrix[take], arrays.z[take], weight, rounds, label)
        del take, weight
        scored = window.select(*KEYS, "period_date", "y", "scale", "_pn", "horizon").with_columns(
            pl.lit(origin).alias("origin"),
            pl.Series("p50", model.point(window)),
        )
        windows.append(baselines(history, scored, origin_pn, cfg.season, recent))
    return pl.concat(windows)


def with_bands(points: pl.DataFrame, horizon: int, n_origins: int, levels: tuple[float, ...]) -> pl.DataFrame:
    """The backtest: each origin's bands calibrated on the other origins' residuals (on its own
    residuals when it is the only origin), per segment where `points` has one."""
    per_origin = [
        with_intervals(part, residual_offsets(points, horizon, levels, None if n_origins == 1 else origin))
        for (origin,), part in points.group_by("origin", maintain_order=True)
    ]
    return pl.concat(per_origin).sort("origin", *KEYS, "period_date").select(backtest_columns(levels))
