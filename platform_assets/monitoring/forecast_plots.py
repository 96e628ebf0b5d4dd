"""Forecast PNGs (conventions: rendering.py): the top series for the Dagster UI, one series on demand
for `shelfcast forecast --plot`. Same picture as the HTML report's charts: actuals, the bands (the widest
lightest), p50."""

import polars as pl
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from platform_assets.core.keys import KEYS
from platform_assets.monitoring.forecast_report import (
    BAND_COLOR,
    BAND_OPACITY,
    HISTORY_COLOR,
    bands_widest_first,
    recent,
    shown_periods,
    top_series,
)
from platform_assets.monitoring.rendering import png

PANELS = 4


def _draw(ax, past: pl.DataFrame, forecast: pl.DataFrame, title: str) -> None:
    band = forecast.sort("horizon")
    dates = band["target_date"].to_list()
    ax.plot(
        past["period_date"].to_list(), past["y"].to_list(), color=HISTORY_COLOR, linewidth=1, label="actual"
    )
    for level, lo, hi in bands_widest_first(band):
        ax.fill_between(
            dates,
            band[lo].to_list(),
            band[hi].to_list(),
            color=BAND_COLOR,
            alpha=BAND_OPACITY,
            linewidth=0,
            label=f"{lo}-{hi} ({level:g}%)",
        )
    ax.plot(dates, band["p50"].to_list(), color=BAND_COLOR, linewidth=1.8, label="p50")
    if dates:
        ax.axvline(dates[0], color="#888", linestyle="--", linewidth=0.8)
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax.set_title(title, fontsize=9, loc="left", parse_math=False)
    ax.xaxis.set_major_locator(AutoDateLocator(maxticks=7))
    ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def series_png(past: pl.DataFrame, forecast: pl.DataFrame, title: str) -> bytes:
    """One series: `past` (period_date, y) and its forecast rows (target_date, horizon, quantiles)."""
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    shown = shown_periods(int(forecast["horizon"].max() or 0))
    _draw(ax, past.sort("period_date").tail(shown), forecast, title)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9)
    return png(fig)


def top_series_png(forecasts: pl.DataFrame, history: pl.DataFrame, n: int = PANELS) -> bytes:
    """The `n` series with the largest forecast volume, one panel each."""
    top = top_series(forecasts, n)
    history = recent(history, int(forecasts["horizon"].max() or 0))
    fig = Figure(figsize=(9, 2.2 * max(top.height, 1)))
    axes = fig.subplots(max(top.height, 1), 1, squeeze=False)[:, 0]
    for ax, (product, store, _) in zip(axes, top.iter_rows(), strict=False):
        key = (pl.col(KEYS[0]) == product) & (pl.col(KEYS[1]) == store)
        _draw(ax, history.filter(key).sort("period_date"), forecasts.filter(key), f"{product} @ {store}")
    axes[0].legend(fontsize=7, frameon=False, loc="upper left", ncols=3)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.95, hspace=0.45)
    return png(fig)
