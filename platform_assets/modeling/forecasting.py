"""Forecasts for the next H periods of every active series, never silently skipping one.

A series gets the model's forecast when all of its H future rows are ones the model was trained to
answer (defined scale, at least `min_history` observed periods behind the row). Otherwise, flagged
`method = "fallback"`:
1. a series with history: the median of its most recent actual values (the medium feature window
   ending at the last actual period, zeros included as the mart records them) with their empirical
   quantiles as the bands (10% / 90% for the 80% band), flat over the horizon (a median, like the
   model's p50: on sparse demand a mean over-forecasts the typical period);
2. a series with no history (a new product): per horizon step, the median of each quantile column of
   the other forecasts in its category (all stores), or of all forecasts when the category has none.

The quantile columns are those of the model's band (its interval levels, core/levels.py).
"""

from datetime import UTC, datetime

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import REQUIRED, band_columns, bounds, ordered, tails
from platform_assets.modeling.combination import Combination, Local
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.names import MODEL_NAME


def columns(levels: tuple[float, ...]) -> list[str]:
    """What `make_forecasts` returns."""
    return [*KEYS, "target_date", "horizon", *band_columns(levels), "method"]


def forecast_columns(levels: tuple[float, ...]) -> list[str]:
    """`marts.forecasts`, the table users query: one row per series, target date and generation."""
    return [
        "product_id", "store_id", "target_date", "horizon", *band_columns(levels), "model_name",
        "model_version", "mlflow_run_id", "generated_at", "method", "generation_id",
    ]  # fmt: skip


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
    recent_window: int | None = None,
) -> pl.DataFrame:
    """product_id, store_id, target_date, horizon (1..H), the band's quantile columns (p10, p50, p90
    and those of the other levels) and method for each ACTIVE series.

    `features` may hold only the future rows (inference_features) or history too. `history` (keys,
    period_date, y: the newest actuals, as far back as the model's origin windows and its statistical
    models' window) feeds the origin features and the statistical models; taken from `features` when
    not given. A bare Forecaster forecasts as LightGBM alone. `local`: the statistical forecasts made
    already for these series (`Combination.local_forecasts` over `model_series`), not refitted.
    `recent_window` (the medium feature window) is how many of the newest periods the fallback's
    quantiles beyond the 80% band read (all of `history` when None).
    """
    combination = model if isinstance(model, Combination) else Combination(model)
    model = combination.forecaster
    levels = combination.band.levels
    band = band_columns(levels)
    grid = _grid(model, features.filter(pl.col("is_future")), series)
    by_model = grid.filter("_model")
    actuals = features.filter(~pl.col("is_future")) if history is None else history
    if model.origin_windows is not None and actuals.is_empty() and not by_model.is_empty():
        raise ValueError("the model reads the newest actuals (origin features): pass `history`")
    actuals_of = actuals.select(*KEYS, "period_date", "y")
    with_origin = model.with_origin_features(by_model, actuals_of)
    forecast = (
        by_model.select(*KEYS, "period_date", "horizon")
        .join(combination.predict(with_origin, actuals_of, local), on=[*KEYS, "period_date"], how="left")
        .with_columns(pl.lit("model").alias("method"))
    )
    others = grid.filter(~pl.col("_model"))
    if others.height:  # a what-if of a series the model answers has none: its fallbacks are skipped
        recent = _recent_fallback(others, actuals_of, levels, recent_window)
        forecast = pl.concat([forecast, recent], how="diagonal_relaxed")
        new = others.join(forecast.select(*KEYS).unique(), on=KEYS, how="anti")
        fallback = _category_fallback(new, forecast, grid, band)
        forecast = pl.concat([forecast, fallback], how="diagonal_relaxed")
    return (
        ordered(forecast, levels)
        .rename({"period_date": "target_date"})
        .select(columns(levels))
        .with_columns(pl.col("horizon").cast(pl.Int32), *[pl.col(c).cast(pl.Float64) for c in band])
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
    recent_window: int | None = None,
) -> pl.DataFrame:
    """One generation of `marts.forecasts`: `make_forecasts` stamped with the model that made it
    (registered version and MLflow run) and the generation (id and time) it belongs to."""
    levels = (model if isinstance(model, Combination) else Combination(model)).band.levels
    return (
        make_forecasts(model, features, series, history=history, recent_window=recent_window)
        .with_columns(
            pl.lit(MODEL_NAME).alias("model_name"),
            pl.lit(str(version)).alias("model_version"),
            pl.lit(run_id).alias("mlflow_run_id"),
            pl.lit(datetime.now(UTC).replace(tzinfo=None), pl.Datetime("us")).alias("generated_at"),
            pl.lit(generation_id).alias("generation_id"),
        )
        .select(forecast_columns(levels))
    )


def _recent_fallback(
    rows: pl.DataFrame, actuals: pl.DataFrame, levels: tuple[float, ...], window: int | None
) -> pl.DataFrame:
    """Recent observed level and quantiles, read at the last horizon row (its window ends at the last
    actual period); series without observed history are left to the category fallback. The 80% band
    comes with the features (recent_q10 / recent_q90); other levels' quantiles are read from the
    newest `window` periods of `actuals`, the same window."""
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
    others = [v for v in levels if v != REQUIRED]
    if others:
        recent = actuals.join(stats.select(KEYS), on=KEYS, how="semi").sort([*KEYS, "period_date"])
        if window is not None:
            recent = recent.group_by(KEYS, maintain_order=True).tail(window)
        quantiles = [
            pl.col("y").quantile(q, "linear").alias(name)
            for v in others
            for q, name in zip(tails(v), bounds(v), strict=True)
        ]
        stats = stats.join(recent.group_by(KEYS).agg(quantiles), on=KEYS, how="left")
    return (
        rows.select(*KEYS, "period_date", "horizon")
        .join(stats, on=KEYS, how="inner")
        .with_columns(pl.lit("fallback").alias("method"))
    )


def _category_fallback(
    new: pl.DataFrame, forecast: pl.DataFrame, grid: pl.DataFrame, band: list[str]
) -> pl.DataFrame:
    """Per horizon median of each quantile column of the category's other forecasts, else of all
    forecasts."""
    category = grid.select(*KEYS, "_series_category").unique(KEYS)
    known = forecast.join(category, on=KEYS, how="left")
    by_category = known.group_by("_series_category", "horizon").agg(pl.col(band).median())
    overall = known.group_by("horizon").agg(pl.col(band).median().name.suffix("_all"))
    return (
        new.select(*KEYS, "period_date", "horizon", "_series_category")
        .join(by_category, on=["_series_category", "horizon"], how="left")
        .join(overall, on="horizon", how="left")
        .with_columns(pl.coalesce(c, f"{c}_all", pl.lit(0.0)).alias(c) for c in band)
        .select(*KEYS, "period_date", "horizon", *band, pl.lit("fallback").alias("method"))
    )
