"""Seeded samples of whole series: how a fit stays bounded in rows whatever the catalog size.

A global model learns the shape of demand relative to each series' scale; past a million or so rows
more series add little accuracy but cost fit time linearly. Sampling whole series, never rows within
a series, keeps every lag and rolling window of a kept series intact.
"""

import polars as pl

from platform_assets.core.keys import KEYS

# Rows per LightGBM fit (SHELFCAST_MAX_FIT_ROWS): 1k synthetic series, WAPE 0.4122 with all 672k rows,
# 0.4142 with 300k; Ta Feng 0.9239 with its 782k, 0.9352 with 500k (README, "Rows per fit").
MAX_FIT_ROWS = 1_000_000


def series_order(rows: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Every series in `rows` with its row count, in a seeded random order that does not depend on
    the order of `rows` (the series list is sorted before it is shuffled)."""
    counts = rows.group_by(KEYS).len("rows").sort(KEYS)
    return counts.sample(fraction=1.0, shuffle=True, seed=seed)


def sample_series(rows: pl.DataFrame, seed: int, max_rows: int) -> pl.DataFrame:
    """The keys of the series that fit in `max_rows` rows, taken in the seeded order (at least one)."""
    order = series_order(rows, seed)
    within = order["rows"].cum_sum() <= max_rows
    return order.filter(within | (pl.int_range(pl.len()) == 0)).select(KEYS).sort(KEYS)
