"""Model quality a person can read: the model against its baselines, by category and store, the worst
series, and a sentence where a metric misleads.

Pure functions over the backtest frame (keys, period_date, origin, y, the quantile columns of
core/levels.py, the baselines' columns, mase_scale) with the metric conventions of
`modeling/metrics.py`. The per-group numbers pool every backtest origin (the overall table keeps
`backtest_metrics`' per-origin average).
"""

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import REQUIRED, bounds, coverage_metric, levels_in
from platform_assets.modeling.metrics import METHODS
from platform_assets.modeling.segments import SEGMENTS

# The backtest's columns by the name a reader knows them under, the model first.
LABELS = {
    "p50": "model",
    "naive": "naive",
    "seasonal_naive": "seasonal naive",
    "recent_median": "recent median",
}
WORST = 10
# Below this share of zero actuals sMAPE's jump at zero hardly moves the average: no warning.
ZERO_SHARE_NOTE = 0.05


def coverage_label(level: float) -> str:
    """A coverage column's heading: 80 -> 'coverage 80%'."""
    return f"coverage {level:g}%"


COVERAGE_80 = coverage_label(REQUIRED)


def _metric_levels(metrics: dict[str, float]) -> list[float]:
    """The levels whose pooled coverage `metrics` holds (`coverage_80`, `coverage_97_5`)."""
    labels = {k.removeprefix("coverage_") for k in metrics if k.startswith("coverage_")}
    return sorted(float(label.replace("_", ".")) for label in labels if label.replace("_", "").isdigit())


def coverage_text(metrics: dict[str, float]) -> str:
    """The pooled coverage of every level in one phrase: '80%: 0.812, 95%: 0.946'."""
    levels = _metric_levels(metrics)
    return ", ".join(f"{v:g}%: {metrics[coverage_metric(v)]:.3f}" for v in levels) or "not measured"


def comparison(metrics: dict[str, float], model_label: str = "model") -> pl.DataFrame:
    """One row per method (the model, then each baseline in the metrics), rounded to three decimals."""
    rows = []
    levels = _metric_levels(metrics) or [REQUIRED]
    for prefix, column in METHODS.items():
        if f"{prefix}wape" not in metrics:
            continue
        rows.append(
            {
                "method": model_label if column == "p50" else LABELS[column],
                "WAPE": metrics.get(f"{prefix}wape"),
                "MASE": metrics.get(f"{prefix}mase"),
                "sMAPE": metrics.get(f"{prefix}smape"),
                "RMSE": metrics.get(f"{prefix}rmse"),
                **{
                    coverage_label(v): metrics.get(coverage_metric(v)) if column == "p50" else None
                    for v in levels
                },
            }
        )
    columns = ["WAPE", "MASE", "sMAPE", "RMSE", *map(coverage_label, levels)]
    schema = {"method": pl.String} | dict.fromkeys(columns, pl.Float64)
    return pl.DataFrame(rows, schema=schema).with_columns(pl.exclude("method").round(3))


def segment_coverage_table(metrics: dict[str, float]) -> pl.DataFrame:
    """Coverage of each level per demand segment at the newest backtest origin (from the training
    metrics `coverage_80_intermittent`, ...), next to the pooled coverage: where the bands are off."""
    levels = _metric_levels(metrics)
    rows = [
        {"segment": segment} | {coverage_label(v): metrics.get(coverage_metric(v, segment)) for v in levels}
        for segment in (*SEGMENTS, "all")
        if segment == "all" or any(coverage_metric(v, segment) in metrics for v in levels)
    ]
    rows[-1] |= {coverage_label(v): metrics.get(coverage_metric(v)) for v in levels}
    schema = {"segment": pl.String} | {coverage_label(v): pl.Float64 for v in levels}
    return pl.DataFrame(rows, schema=schema).with_columns(pl.exclude("segment").round(3))


def _coverage(level: float) -> pl.Expr:
    lower, upper = bounds(level)
    inside = (pl.col(lower) <= pl.col("y")) & (pl.col("y") <= pl.col(upper))
    return inside.mean().alias(coverage_label(level))


def _abs_error(pred: str) -> pl.Expr:
    return (pl.col("y") - pl.col(pred)).abs()


def _smape(pred: str) -> pl.Expr:
    """sMAPE on the 0..2 scale, 0/0 counted as 0 (metrics.smape)."""
    denom = pl.col("y").abs() + pl.col(pred).abs()
    return pl.when(denom > 0).then(2 * _abs_error(pred) / denom).otherwise(0.0).mean()


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator with 0/0 as 0 and x/0 as null (no finite score: sorted last)."""
    return pl.when(denominator > 0).then(numerator / denominator).when(numerator == 0).then(0.0)


def group_metrics(backtest: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per group: series, volume, the model's WAPE / MASE / sMAPE / coverage and seasonal naive's WAPE
    and MASE (the bar the promotion gate sets), pooled over every backtest origin."""
    error, scale = _abs_error("p50").sum(), pl.col("mase_scale").sum()
    naive_error = _abs_error("seasonal_naive").sum()
    return (
        backtest.group_by(by)
        .agg(
            pl.struct(KEYS).n_unique().alias("series"),
            pl.col("y").sum().round(0).cast(pl.Int64).alias("volume"),
            _ratio(error, pl.col("y").abs().sum()).alias("WAPE"),
            _ratio(naive_error, pl.col("y").abs().sum()).alias("seasonal naive WAPE"),
            _ratio(error, scale).alias("MASE"),
            _ratio(naive_error, scale).alias("seasonal naive MASE"),
            _smape("p50").alias("sMAPE"),
            *[_coverage(v) for v in levels_in(backtest.columns)],
            (pl.col("y") == 0).mean().alias("zero share"),
        )
        .with_columns(pl.col(pl.Float64).round(3))
    )


def breakdown(backtest: pl.DataFrame, series: pl.DataFrame, by: str) -> pl.DataFrame:
    """`group_metrics` by a series attribute (`category` from `series`, or `store_id`), largest volume
    first."""
    attrs = series.select(*KEYS, by).unique(KEYS) if by not in KEYS else series.select(KEYS).unique()
    rows = backtest.join(attrs, on=KEYS, how="left") if by not in KEYS else backtest
    return group_metrics(rows.with_columns(pl.col(by).fill_null("(unknown)")), [by]).sort(
        ["volume", by], descending=[True, False]
    )


def worst_series(backtest: pl.DataFrame, series: pl.DataFrame, n: int = WORST) -> pl.DataFrame:
    """The `n` series with the highest MASE (error relative to the series' own seasonal-naive scale, so
    a slow mover and a best seller compare); series without a finite MASE come last."""
    per_series = group_metrics(backtest, KEYS)
    if "category" in series.columns:
        per_series = per_series.join(series.select(*KEYS, "category").unique(KEYS), on=KEYS, how="left")
    else:
        per_series = per_series.with_columns(pl.lit(None, pl.String).alias("category"))
    ordered = per_series.sort(["MASE", *KEYS], descending=[True, False, False], nulls_last=True)
    coverage = [coverage_label(v) for v in levels_in(backtest.columns)]
    shown = ["volume", "WAPE", "MASE", "seasonal naive MASE", *coverage, "zero share"]
    return ordered.head(n).select(*KEYS, "category", *shown)


def intermittency_note(backtest: pl.DataFrame, metrics: dict[str, float]) -> str | None:
    """Why sMAPE misleads on data with zero periods, in numbers from this backtest; None when few
    actuals are zero (sMAPE is then a fair score)."""
    if backtest.is_empty():
        return None
    zeros = backtest.filter(pl.col("y") == 0)
    zero_share = zeros.height / backtest.height
    if zero_share < ZERO_SHARE_NOTE:
        return None
    nonzero_p50 = (zeros["p50"] > 0).mean()
    selling = backtest.filter(pl.col("y") != 0)
    on_sales = selling.select(_smape("p50")).item() if selling.height else float("nan")
    baseline = ""
    if "seasonal_naive_smape" in metrics:
        naive_on_sales = selling.select(_smape("seasonal_naive")).item() if selling.height else float("nan")
        baseline = (
            f" (seasonal naive: {metrics['seasonal_naive_smape']:.3f} overall, "
            f"{naive_on_sales:.3f} on periods with sales)"
        )
    overall = metrics.get("smape", float("nan"))
    return (
        f"sMAPE misleads on intermittent demand: {zero_share:.0%} of the backtest periods sold nothing, "
        "and on such a period any forecast above zero scores sMAPE's maximum of 2 while a forecast of "
        f"exactly 0 scores 0. The model's p50 is above zero on {nonzero_p50:.0%} of those periods, so its "
        f"sMAPE is {overall:.3f} overall but {on_sales:.3f} on periods with sales{baseline}. "
        "Compare models by WAPE and MASE, which weigh errors by volume."
    )
