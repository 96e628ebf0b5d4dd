"""Incremental builds: rebuilding only the newest periods of the features table, to the bit.

Every feature of period t reads only periods t - `FeatureConfig.lookback` .. t (bounded lags and
windows) or a per-series running state (first period, observed periods, last sale, last known price:
`carry_in`), so the rows from period `since` on can be rebuilt from the marts' rows from
`lookback_start(since)` on plus that state (`build.build_features_since`), and equal the rows a
from-scratch build gives. Equal to the bit: window statistics come from exact window sums
(features/exact.py), so they do not depend on where the rows start; values that cannot be scaled to
whole numbers rule an incremental build out.

When the features asset builds incrementally (`plan_build`; the warehouse side is features/store.py):
a partitioned run (daily_refresh, a landing-sensor run) rebuilds `training_features` only from the
first period whose marts rows may have changed: the first month of the run's partition range, or of any
`raw_observations` partition landed since the last features build, whichever is earlier. It reads the
marts from `lookback` periods before that, plus the running state aggregated in SQL, and replaces the
table's tail (`replace_slice` with `period_date >= since`); `inference_features` (the next horizon) is
always rebuilt whole. The rows equal a from-scratch build's (tests/test_features_incremental.py)
provided the older rows still describe the same inputs, which is checked, and the build falls back to a
full one when it is not known: no previous build, a changed catalog (category, brand, supplier, numeric
attributes), changed events, feature settings or feature code (`FEATURE_CODE_VERSION`), a table
whose row count or last period differs from what the last build recorded, or values whose window sums
cannot be made exact.
Unpartitioned runs (retrain, a manual materialization) always build from scratch, so do those after
changing the marts' SQL: a dbt change that rewrites old periods is not a landed partition this asset
can see.
"""

from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import offset_periods, period_of
from platform_assets.features.attributes import numeric_attributes
from platform_assets.features.config import FeatureConfig
from platform_assets.features.digest import frame_digest

# Bump when platform_assets/features/ changes what a row holds: the next run then builds from scratch.
FEATURE_CODE_VERSION = 3
# Per-series state a build starting mid-history needs from the periods before its rows (`carry_in`).
CARRY = {
    "first_period": pl.Date,
    "observed_before": pl.Int64,
    "last_sale_before": pl.Date,
    "last_price_before": pl.Float64,
}


def lookback_start(since: date, cfg: FeatureConfig) -> date:
    """The first period an incremental build from `since` reads."""
    return offset_periods(period_of(since, cfg.freq), -cfg.lookback, cfg.freq)


def carry_in(sales: pl.DataFrame, before: date) -> pl.DataFrame:
    """Per series, the running state a build from `before` on needs of the earlier periods (CARRY):
    its first period, how many periods were observed, the last period with a sale and the last known
    price before `before`. The polars twin of `store.CARRY_SQL`, which the features asset runs."""
    early = pl.col("period_date") < before
    return (
        sales.group_by(KEYS)
        .agg(
            pl.col("period_date").min().alias("first_period"),
            (early & pl.col("is_observed")).sum().cast(pl.Int64).alias("observed_before"),
            pl.col("period_date").filter(early & (pl.col("units_sold") > 0)).max().alias("last_sale_before"),
            pl.col("price").filter(early & pl.col("price").is_not_null()).last().alias("last_price_before"),
        )
        .cast(CARRY)
        .sort(KEYS)
    )


def inputs_digest(products: pl.DataFrame, cfg: FeatureConfig, events: pl.DataFrame | None = None) -> str:
    """What every row of the table depends on besides the sales rows: the catalog's columns the features
    read (not the raw attributes: only their numeric ones become features), the feature settings, the
    events (any row may be near one) and the feature code's version."""
    catalog = products.select("product_id", "category", "brand", "supplier_id").join(
        numeric_attributes(products), on="product_id", how="left"
    )
    digest = f"v{FEATURE_CODE_VERSION}-{cfg.target}-{cfg.horizon}-{cfg.freq}-{frame_digest(catalog)}"
    if cfg.holidays:
        digest += f"-holidays:{cfg.holidays}"
    if events is not None and events.height:
        digest += f"-events:{frame_digest(events.select('date', 'store_id', 'category').sort(pl.all()))}"
    return digest


def plan_build(
    run_since: date | None,
    landed: list[str] | None,
    previous: dict | None,
    digest: str,
    table: tuple[int, date | None] | None,
    cfg: FeatureConfig,
) -> tuple[date | None, str]:
    """(first period to rebuild or None for a full build, why). `run_since`: the first day of the run's
    partition range (None: unpartitioned run); `landed`: raw_observations partition keys materialized
    since the previous build (None: unknown); `previous`: the state the previous build recorded;
    `table`: (rows, last period) of features.training_features now (None: no table)."""
    if run_since is None:
        return None, "unpartitioned run"
    if previous is None or landed is None:
        return None, "no previous build recorded"
    if previous.get("digest") != digest:
        return None, "catalog, feature settings or feature code changed since the previous build"
    if any(f is None for f in previous.get("factors", {None: None}).values()):
        return None, "the previous build's window sums were not exact"
    history_end = date.fromisoformat(previous["history_end"]) if previous.get("history_end") else None
    if table is None or history_end is None or table != (previous["rows"], history_end):
        return None, f"table {table} is not what the previous build wrote ({previous.get('rows')} rows)"
    since = min([run_since, *(date.fromisoformat(key[:10]) for key in landed)])
    since = min(period_of(since, cfg.freq), offset_periods(history_end, 1, cfg.freq))  # no gap
    if previous.get("history_start") is None or since <= date.fromisoformat(previous["history_start"]):
        return None, "the run covers the whole history"
    return since, f"rebuilt from {since} (lookback from {lookback_start(since, cfg)})"


def compatible(stored: dict, now: dict) -> bool:
    """The stored factors serve the new rows too: whole numbers stay whole at a larger factor."""
    return all(now[k] is not None and stored.get(k) is not None and now[k] <= stored[k] for k in now)
