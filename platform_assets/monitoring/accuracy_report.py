"""The accuracy-decay chart: the champion's live error and interval coverage by horizon against its
backtest, rendered from `accuracy.by_horizon`'s table (conventions: rendering.py)."""

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from platform_assets.monitoring.rendering import CURRENT_COLOR, REFERENCE_COLOR, png

_NOMINAL_COVERAGE = 0.8


def _floats(frame: pl.DataFrame, column: str) -> np.ndarray:
    """Float values with nulls as NaN, so a horizon without data is a gap in the line, not a zero."""
    return frame[column].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def accuracy_by_horizon_png(accuracy: pl.DataFrame) -> bytes:
    """Live WAPE (against the champion's backtest WAPE) and p10-p90 coverage (against 0.8) by horizon.

    Columns: ``horizon``, ``wape``, ``coverage``; optional ``backtest_wape`` (dashed reference line)
    and ``mase`` (right axis of the WAPE panel).
    """
    missing = sorted({"horizon", "wape", "coverage"} - set(accuracy.columns))
    if missing:
        raise ValueError(f"accuracy frame lacks columns {missing}")
    acc = accuracy.sort("horizon")
    horizon = acc["horizon"].to_numpy()
    fig = Figure(figsize=(9, 3.4))
    wape_ax, cov_ax = fig.subplots(1, 2)

    lines = wape_ax.plot(horizon, _floats(acc, "wape"), "o-", color=CURRENT_COLOR, label="live WAPE")
    if "backtest_wape" in acc.columns:
        lines += wape_ax.plot(
            horizon, _floats(acc, "backtest_wape"), "--", color="black", label="champion backtest WAPE"
        )
    if "mase" in acc.columns:
        mase_ax = wape_ax.twinx()
        lines += mase_ax.plot(
            horizon, _floats(acc, "mase"), ":.", color="tab:green", label="MASE (right axis)"
        )
        mase_ax.set_ylim(bottom=0)
        mase_ax.tick_params(labelsize=7)
    wape_ax.set_ylim(bottom=0)
    wape_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    wape_ax.set_title("WAPE by horizon", fontsize=9)
    wape_ax.legend(handles=lines, fontsize=7, frameon=False, loc="lower right")

    cov_ax.plot(horizon, _floats(acc, "coverage"), "o-", color=REFERENCE_COLOR, label="live coverage")
    cov_ax.axhline(_NOMINAL_COVERAGE, linestyle="--", color="black", label=f"nominal {_NOMINAL_COVERAGE:.0%}")
    cov_ax.set_ylim(0, 1.02)
    cov_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    cov_ax.set_title("p10-p90 interval coverage by horizon", fontsize=9)
    cov_ax.legend(fontsize=7, frameon=False, loc="lower right")

    for ax in (wape_ax, cov_ax):
        ax.set_xlabel("horizon (periods ahead)", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.07, right=0.95, bottom=0.15, top=0.9, wspace=0.3)
    return png(fig)
