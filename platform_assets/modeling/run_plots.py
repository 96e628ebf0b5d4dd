"""The plots a training run logs to MLflow: feature importance and the backtest of the top series."""

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import bounds, levels_in

PLOTTED_SERIES = 4


def importance_figure(importance: pl.DataFrame, top: int = 20) -> Figure:
    head = importance.head(top).reverse()
    fig = Figure(figsize=(7, 0.3 * head.height + 1.2))
    ax = fig.subplots()
    ax.barh(head["feature"].to_list(), head["gain"].to_list())
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance (final model)")
    fig.tight_layout()
    return fig


def backtest_figure(backtest: pl.DataFrame) -> Figure:
    """Actuals against p50 and the bands (the widest lightest) for the highest-volume series, every origin."""
    top = backtest.group_by(KEYS).agg(pl.col("y").sum()).sort(["y", *KEYS], descending=[True, False, False])
    fig = Figure(figsize=(9, 2.4 * min(PLOTTED_SERIES, max(top.height, 1))))
    axes = np.atleast_1d(fig.subplots(max(min(PLOTTED_SERIES, top.height), 1), 1))
    for ax, (product, store) in zip(axes, top.select(KEYS).head(PLOTTED_SERIES).iter_rows(), strict=False):
        one = backtest.filter((pl.col("product_id") == product) & (pl.col("store_id") == store)).sort(
            "period_date"
        )
        for (_,), part in one.group_by("origin", maintain_order=True):
            dates = part["period_date"].to_list()
            for level in sorted(levels_in(part.columns), reverse=True):
                lower, upper = bounds(level)
                lo, hi = part[lower].to_list(), part[upper].to_list()
                ax.fill_between(dates, lo, hi, color="tab:blue", alpha=0.15)
            ax.plot(dates, part["p50"].to_list(), color="tab:blue")
        ax.plot(one["period_date"].to_list(), one["y"].to_list(), "k.", markersize=3)
        ax.set_title(f"{product} @ {store}: actual (dots), p50 and bands per backtest origin", fontsize=9)
    fig.tight_layout()
    return fig
