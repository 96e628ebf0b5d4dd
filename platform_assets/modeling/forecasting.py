"""Forecasts for the next H periods of every active series, never silently skipping one.

A series gets the model's forecast when all of its H future rows are ones the model was trained to
answer (defined scale, at least `min_history` observed periods behind the row). Otherwise, flagged
`method = "fallback"`:
1. a series with history: the median of its most recent actual values (the medium feature window
   ending at the last actual period, zeros included as the mart records them) with their empirical
   10% / 90% quantiles as the band, flat over the horizon (a median, like the model's p50: on sparse
   demand a mean over-forecasts the typical period);
2. a series with no history (a new product): per horizon step, the median p10 / p50 / p90 of the
   other forecasts in its category (all stores), or of all forecasts when the category has none.
"""

from datetime import UTC, datetime

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.modeling.combination import Combination, Local
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.names import MODEL_NAME

COLUMNS = [*KEYS, "target_date", "horizon", "p10", "p50", "p90", "method"]
BAND = ["p10", "p50", "p90"]
# `marts.forecasts`, the table users query: one row per series, target date and generation.
FORECAST_COLUMNS = [
    "product_id", "store_id", "target_date", "horizon", "p10", "p50", "p90", "model_name",
    "model_version", "mlflow_run_id", "generated_at", "method", "generation_id",
]  # fmt: skip


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    """Non-negative and p10 <= p50 <= p90, whatever produced the numbers."""
    p50 = pl.col("p50").clip(lower_bound=0)
    return frame.with_columns(p50.alias("p50")).with_columns(
        pl.min_horizontal("p10", "p50").clip(lower_bound=0).alias("p10"),
        pl.max_horizontal("p90", "p50").alias("p90"),
    )


def _grid(model: Forecaster, future: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """Every active series x horizon step with its future row, `_model` true for a series the model
    answers (all H rows present and eligible)."""
    dates = future["period_date"].unique().sort()
    if dates.len() != model.horizon:
        raise ValueError(f"features hold {dates.len()} future periods, the model forecasts {model.horizon}")
    steps = pl.DataFrame({"period_date": dates, "horizon": pl.int_range(1, model.horizon + 1, eager=True)})
    active = (
        series.filter(pl.col("is_active"))
        .select(*KEYS, pl.col("category").alias("_series_category"))
        .unique(KEYS, keep="first")
        .sort(KEYS)
    )
    return (
        active.join(steps, how="cross")
        .join(future.with_columns(pl.lit(True).alias("_has_row")), on=[*KEYS, "period_date"], how="left")
        .sort([*KEYS, "horizon"])
        .with_columns(
            (pl.col("_has_row").fill_null(False) & model.eligible().fill_null(False))
            .all()
            .over(KEYS)
            .alias("_model")
        )
    )


def model_series(model: Forecaster, features: pl.DataFrame, series: pl.DataFrame) -> pl.DataFrame:
    """The keys of the active series `make_forecasts` gives the model's forecast (the others fall back)."""
    grid = _grid(model, features.filter(pl.col("is_future")), series)
    return grid.filter("_model").select(KEYS).unique(maintain_order=True)


def make_forecasts(
    model: Combination | Forecaster,
    features: pl.DataFrame,
    series: pl.DataFrame,
    history: pl.DataFrame | None = None,
    local: Local | None = None,
) -> pl.DataFrame:
    """product_id, store_id, target_date, horizon (1..H), p10, p50, p90, method for each ACTIVE series.

    `features` may hold only the future rows (inference_features) or history too. `history` (keys,
    period_date, y: the newest actuals, as far back as the model's origin windows and its statistical
    models' window) feeds the origin features and the statistical models; taken from `features` when
    not given. A bare Forecaster forecasts as LightGBM alone. `local`: the statistical forecasts made
    already for these series (`Combination.local_forecasts` over `model_series`), not refitted.
    """
    combination = model if isinstance(model, Combination) else Combination(model)
    model = combination.forecaster
    grid = _grid(model, features.filter(pl.col("is_future")), series)
    by_model = grid.filter("_model")
    actuals = features.filter(~pl.col("is_future")) if history is None else history
    if model.origin_windows is not None and actuals.is_empty() and not by_model.is_empty():
        raise ValueError("the model reads the newest actuals (origin features): pass `history`")
    actuals_of = actuals.select(*KEYS, "period_date", "y")
    with_origin = model.with_origin_features(by_model, actuals_of)
    forecast = pl.concat(
        [
            by_model.select(*KEYS, "period_date", "horizon")
            .join(combination.predict(with_origin, actuals_of, local), on=[*KEYS, "period_date"], how="left")
            .with_columns(pl.lit("model").alias("method")),
            _recent_fallback(grid.filter(~pl.col("_model"))),
        ],
        how="diagonal_relaxed",
    )
    new = grid.filter(~pl.col("_model")).join(forecast.select(*KEYS).unique(), on=KEYS, how="anti")
    forecast = pl.concat([forecast, _category_fallback(new, forecast, grid)], how="diagonal_relaxed")
    return (
        _ordered(forecast)
        .rename({"period_date": "target_date"})
        .select(COLUMNS)
        .with_columns(pl.col("horizon").cast(pl.Int32), *[pl.col(c).cast(pl.Float64) for c in BAND])
        .sort([*KEYS, "horizon"])
    )


def generation(
    model: Combination | Forecaster,
    features: pl.DataFrame,
    series: pl.DataFrame,
    history: pl.DataFrame,
    *,
    version: int,
    run_id: str,
    generation_id: str,
) -> pl.DataFrame:
    """One generation of `marts.forecasts`: `make_forecasts` stamped with the model that made it
    (registered version and MLflow run) and the generation (id and time) it belongs to."""
    return (
        make_forecasts(model, features, series, history=history)
        .with_columns(
            pl.lit(MODEL_NAME).alias("model_name"),
            pl.lit(str(version)).alias("model_version"),
            pl.lit(run_id).alias("mlflow_run_id"),
            pl.lit(datetime.now(UTC).replace(tzinfo=None), pl.Datetime("us")).alias("generated_at"),
            pl.lit(generation_id).alias("generation_id"),
        )
        .select(FORECAST_COLUMNS)
    )


def _recent_fallback(rows: pl.DataFrame) -> pl.DataFrame:
    """Recent observed level and quantiles, read at the last horizon row (its window ends at the last
    actual period); series without observed history are left to the category fallback."""
    stats = (
        rows.filter(pl.col("horizon") == pl.col("horizon").max())
        .filter(pl.col("recent_median").is_not_null())
        .select(
            *KEYS,
            pl.col("recent_q10").alias("p10"),
            pl.col("recent_median").alias("p50"),
            pl.col("recent_q90").alias("p90"),
        )
    )
    return (
        rows.select(*KEYS, "period_date", "horizon")
        .join(stats, on=KEYS, how="inner")
        .with_columns(pl.lit("fallback").alias("method"))
    )


def _category_fallback(new: pl.DataFrame, forecast: pl.DataFrame, grid: pl.DataFrame) -> pl.DataFrame:
    """Per horizon median band of the category's other forecasts, else of all forecasts."""
    category = grid.select(*KEYS, "_series_category").unique(KEYS)
    known = forecast.join(category, on=KEYS, how="left")
    by_category = known.group_by("_series_category", "horizon").agg(pl.col(BAND).median())
    overall = known.group_by("horizon").agg(pl.col(BAND).median().name.suffix("_all"))
    return (
        new.select(*KEYS, "period_date", "horizon", "_series_category")
        .join(by_category, on=["_series_category", "horizon"], how="left")
        .join(overall, on="horizon", how="left")
        .with_columns(pl.coalesce(c, f"{c}_all", pl.lit(0.0)).alias(c) for c in BAND)
        .select(*KEYS, "period_date", "horizon", *BAND, pl.lit("fallback").alias("method"))
    )
