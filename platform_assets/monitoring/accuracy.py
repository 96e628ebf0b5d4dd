"""Accuracy decay: live error of the champion's past forecasts against its own backtest error."""

import math
from dataclasses import dataclass

import polars as pl

from platform_assets.monitoring.quality import Verdict
from platform_assets.storage.warehouse import Warehouse


def recent_accuracy(accuracy: pl.DataFrame, model_version: str, periods: int) -> pl.DataFrame:
    """The champion's scored forecasts whose target dates fall in the newest `periods` scored dates."""
    mine = accuracy.filter(pl.col("model_version") == model_version)
    dates = mine["target_date"].unique().sort()
    if dates.is_empty():
        return mine
    return mine.filter(pl.col("target_date") >= dates[-min(periods, dates.len())])


def by_horizon(rows: pl.DataFrame) -> pl.DataFrame:
    """Rolling WAPE, MASE and coverage per horizon step (the 80% band's, and `coverage_<level>` of every
    other band the table scored), re-aggregated exactly from the stored sums."""
    extra = [c.removeprefix("n_covered_") for c in rows.columns if c.startswith("n_covered_")]

    def banded(label: str) -> pl.Expr:  # forecasts of generations that carried the band
        return pl.col("n_forecasts").filter(pl.col(f"n_covered_{label}").is_not_null())

    return (
        rows.group_by("horizon")
        .agg(
            (pl.col("abs_error").sum() / pl.col("actual_total").sum()).alias("wape"),
            ((pl.col("mase") * pl.col("n_mase")).sum() / pl.col("n_mase").sum()).alias("mase"),
            (pl.col("n_covered").sum() / pl.col("n_forecasts").sum()).alias("coverage"),
            *(
                (pl.col(f"n_covered_{label}").sum() / banded(label).sum()).alias(f"coverage_{label}")
                for label in extra
            ),
            pl.col("backtest_wape").first(),
            pl.col("n_forecasts").sum(),
            pl.col("actual_total").sum(),
        )
        .sort("horizon")
    )


def decay(rows: pl.DataFrame, factor: float) -> Verdict:
    """Fail when the live WAPE exceeds `factor` x the backtest WAPE on the same horizon mix.

    The backtest WAPE per horizon is weighted by the live actuals of that horizon, so a window that
    happens to hold mostly short horizons is not compared with a long-horizon error.
    """
    if rows.is_empty() or rows["actual_total"].sum() <= 0:
        return Verdict(True, "WARN", "no scored forecasts of the champion yet", {"n_forecasts": 0})
    table = by_horizon(rows)
    live = rows["abs_error"].sum() / rows["actual_total"].sum()
    weights = table["actual_total"] / table["actual_total"].sum()
    reference = table["backtest_wape"].fill_null(math.nan).dot(weights)
    meta = {
        "live_wape": float(live),
        "backtest_wape": float(reference),
        "ratio": float(live / reference) if reference > 0 else float("inf"),
        "factor": factor,
        "n_forecasts": int(table["n_forecasts"].sum()),
        "first_target_date": str(rows["target_date"].min()),
        "last_target_date": str(rows["target_date"].max()),
    }
    if math.isnan(reference):  # no backtest for this version: nothing to compare against
        return Verdict(True, "WARN", "the champion has no backtest WAPE to compare with", meta)
    passed = live <= factor * reference
    verb = "within" if passed else "exceeds"
    return Verdict(
        passed,
        "WARN",
        f"live WAPE {live:.3f} {verb} {factor:g} x the backtest WAPE {reference:.3f} "
        f"({meta['n_forecasts']} forecasts, {meta['first_target_date']}..{meta['last_target_date']})",
        meta,
    )


@dataclass(frozen=True)
class AccuracyDecay:
    verdict: Verdict
    by_horizon: pl.DataFrame | None  # None while the champion has no scored forecasts in the window


def evaluate_decay(warehouse: Warehouse, model_version: str, periods: int, factor: float) -> AccuracyDecay:
    """The decay verdict on `monitoring.forecast_accuracy`'s newest `periods` scored dates of
    `model_version`, with its by-horizon table."""
    scored = warehouse.query("select * from monitoring.forecast_accuracy order by generation_id, horizon")
    rows = recent_accuracy(scored, model_version, periods)
    return AccuracyDecay(decay(rows, factor), None if rows.is_empty() else by_horizon(rows))
