"""Window means and standard deviations that do not depend on where a frame's rows start.

polars' own rolling mean and std carry rounding from the first row of the frame, so a build starting
mid-history (features/incremental.py) or over a chunk of the series would differ in the last bits.
Computed instead from rolling sums of values scaled to whole numbers (`exact_factors`: units, cents),
which are exact, they equal the from-scratch values to the bit. Values that cannot be scaled that way
make `exact_factors` return None for the column: its window sums then round, and callers build from
scratch instead.
"""

from collections.abc import Iterable

import numpy as np
import polars as pl

from platform_assets.features.config import FeatureConfig

# Scale factors tried to make a column's values whole numbers (exact window sums): units, cents.
EXACT_FACTORS = (1, 100)
# Window sums stay exact (below 2**53) for |scaled value| up to this, squares included.
_EXACT_MAX = 2**23


def exact_factors(sales: pl.DataFrame, cfg: FeatureConfig) -> dict[str, int | None]:
    """For the target ("y") and the price: the smallest of EXACT_FACTORS making every value a whole number
    small enough for exact window sums, or None (then window sums round, and depend on the first row)."""
    return common_factors([factor_candidates(sales, cfg)])


def factor_candidates(sales: pl.DataFrame, cfg: FeatureConfig) -> dict[str, set[int]]:
    """For the target ("y") and the price: every factor of EXACT_FACTORS that makes each value a whole
    number small enough for exact window sums. A test of each value alone, so the candidates of a frame
    are those common to any split of its rows (`common_factors`): the sales can be read in parts."""

    def fitting(values: pl.Series) -> set[int]:
        v = values.drop_nulls().cast(pl.Float64).to_numpy()
        if v.size == 0:
            return set(EXACT_FACTORS)
        q = {f: np.rint(v * f) for f in EXACT_FACTORS}
        # numpy divides exactly rounded (polars multiplies by the reciprocal): q / f is the value.
        return {
            f
            for f in EXACT_FACTORS
            if bool(np.all(q[f] / f == v)) and float(np.abs(q[f]).max()) <= _EXACT_MAX
        }

    return {"y": fitting(sales[cfg.target]), "price": fitting(sales["price"])}


def common_factors(candidates: Iterable[dict[str, set[int]]]) -> dict[str, int | None]:
    """`exact_factors` of all the rows, from the `factor_candidates` of each part of them."""
    common = {"y": set(EXACT_FACTORS), "price": set(EXACT_FACTORS)}
    for part in candidates:
        common = {k: v & part[k] for k, v in common.items()}
    return {k: min(v, default=None) for k, v in common.items()}


def window_mean(value: str, window: int, sid: pl.Expr) -> pl.Expr:
    """Rolling mean of a column of whole numbers (nulls skipped, null when the window has none), from
    exact rolling sums: the result does not depend on how many rows precede the window."""
    total = pl.col(value).fill_null(0).rolling_sum(window, min_samples=1).over(sid)
    count = pl.col(value).is_not_null().cast(pl.Float64).rolling_sum(window, min_samples=1).over(sid)
    return pl.when(count > 0).then(total / count)


def window_std(value: str, window: int, sid: pl.Expr) -> pl.Expr:
    """Rolling sample standard deviation (ddof 1, at least 2 values) from exact sums and sums of squares."""
    x = pl.col(value).fill_null(0)
    total = x.rolling_sum(window, min_samples=1).over(sid)
    squares = (x * x).rolling_sum(window, min_samples=1).over(sid)
    count = pl.col(value).is_not_null().cast(pl.Float64).rolling_sum(window, min_samples=1).over(sid)
    variance = ((squares - total * total / count) / (count - 1)).clip(lower_bound=0)
    return pl.when(count >= 2).then(variance.sqrt())
