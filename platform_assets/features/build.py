"""The rows of a features build (polars in, polars out): every series' history rows plus its H future
rows, with the catalog, the carried-in state and every column of features/columns.py."""

from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import period_date, period_number, period_of
from platform_assets.features.attributes import numeric_attributes
from platform_assets.features.calendar import add_calendar
from platform_assets.features.columns import add_columns
from platform_assets.features.config import FeatureConfig
from platform_assets.features.exact import exact_factors
from platform_assets.features.incremental import CARRY, lookback_start


def build_features(
    sales: pl.DataFrame,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    cfg: FeatureConfig,
    factors: dict[str, int | None] | None = None,
    last: date | None = None,
    events: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """History rows plus the H future rows of every series, with point-in-time features (columns.py).
    `factors`: `exact_factors(sales, cfg)` when the caller has it already. To build whole peer groups
    only (a `Chunk` of the sales, series and plans, the whole catalog), pass the factors and `last`
    period of all the sales: the rows are then exactly those of the build over everything. `events`:
    the landing zone's events (calendar.EVENT_SCHEMA), None or empty for none."""
    factors = exact_factors(sales, cfg) if factors is None else factors
    return _build(sales, products, plans, series, None, factors, last, cfg, events)


def build_features_since(
    sales: pl.DataFrame,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    carry: pl.DataFrame,
    since: date,
    factors: dict[str, int | None],
    cfg: FeatureConfig,
    events: pl.DataFrame | None = None,
    attributes: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The rows of `build_features` from period `since` on (history and future), from `sales` rows
    dated `lookback_start(since, cfg)` or later, `carry = carry_in(all sales, lookback_start(...))` and the
    `factors` the from-scratch build used (`exact_factors` of all sales; none may be None). Why they
    are the same rows: features/incremental.py. `attributes`: `numeric_attributes(products)` when the
    caller keeps it (a rebuild of a few peer groups per request)."""
    if any(f is None for f in factors.values()):
        raise ValueError(f"an incremental build needs exact window sums, got factors {factors}")
    start = lookback_start(since, cfg)
    if sales.height and sales["period_date"].min() < start:
        sales = sales.filter(pl.col("period_date") >= start)
    frame = _build(sales, products, plans, series, carry, factors, None, cfg, events, attributes)
    return frame.filter(pl.col("period_date") >= period_of(since, cfg.freq))


def future_dates(last: date, cfg: FeatureConfig) -> list[date]:
    """The labels of the H periods after the one holding `last` (`offset_periods` 1..H, in one pass)."""
    steps = period_number(pl.lit(last), cfg.freq) + pl.int_range(1, cfg.horizon + 1, dtype=pl.Int32)
    return pl.select(period_date(steps, cfg.freq)).to_series().to_list()


def _check_grid(sales: pl.DataFrame, freq: str) -> None:
    """Shifts count rows, so each series must have exactly one row per period with no gaps."""
    per_series = sales.group_by(KEYS).agg(
        n=pl.len(),
        span=period_number(pl.col("period_date"), freq).max()
        - period_number(pl.col("period_date"), freq).min()
        + 1,
        distinct=pl.col("period_date").n_unique(),
    )
    bad = per_series.filter((pl.col("n") != pl.col("span")) | (pl.col("n") != pl.col("distinct")))
    if bad.height:
        raise ValueError(f"{bad.height} series do not have a complete period grid, e.g. {bad.row(0)}")


def _future_rows(
    sales: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    carry: pl.DataFrame | None,
    last: date,
    cfg: FeatureConfig,
):
    """The H periods after the last actual (`last`) for every known series: planned price and promotion
    where a plan exists, else the last known price (before `sales` when it has none: `carry`) and no
    promotion."""
    dates = pl.DataFrame({"period_date": future_dates(last, cfg)})
    known = pl.concat([sales.select(*KEYS), series.select(*KEYS)]).unique().sort(KEYS)
    last_price = sales.group_by(KEYS).agg(pl.col("price").drop_nulls().last().alias("_last_price"))
    if carry is not None:
        last_price = last_price.join(carry.select(*KEYS, "last_price_before"), on=KEYS, how="left").select(
            *KEYS, pl.coalesce("_last_price", "last_price_before").alias("_last_price")
        )
    plan = plans.select(
        *KEYS, "period_date", pl.col("price").alias("_plan_price"), pl.col("on_promo").alias("_plan_promo")
    )
    grid = known.join(dates, how="cross").join(plan, on=[*KEYS, "period_date"], how="left")
    return grid.join(last_price, on=KEYS, how="left").select(
        *KEYS,
        "period_date",
        pl.lit(None, pl.Float64).alias("units_sold"),
        pl.coalesce("_plan_price", "_last_price").cast(pl.Float64).alias("price"),
        pl.col("_plan_promo").fill_null(False).cast(pl.Boolean).alias("on_promo"),
        pl.lit(False).alias("is_observed"),
        pl.lit(False).alias("is_missing"),
        pl.lit(True).alias("is_future"),
    )


def _build(
    sales: pl.DataFrame,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    carry: pl.DataFrame | None,
    factors: dict[str, int | None],
    last: date | None,
    cfg: FeatureConfig,
    events: pl.DataFrame | None,
    attributes: pl.DataFrame | None = None,
) -> pl.DataFrame:
    history = sales.select(
        *KEYS,
        "period_date",
        pl.col("units_sold").cast(pl.Float64),
        pl.col("price").cast(pl.Float64),
        pl.col("on_promo").fill_null(False),
        pl.col("is_observed"),
        pl.col("is_missing"),
        pl.lit(False).alias("is_future"),
    ).sort([*KEYS, "period_date"])
    _check_grid(history, cfg.freq)
    last = history["period_date"].max() if last is None else last
    catalog = products.select("product_id", "category", "brand", "supplier_id")
    rows = (
        pl.concat([history, _future_rows(history, plans, series, carry, last, cfg)])
        .join(catalog, on="product_id", how="left")
        .join(numeric_attributes(products) if attributes is None else attributes, on="product_id", how="left")
        .sort([*KEYS, "period_date"])  # every shift of the columns relies on this order
    )
    rows = add_calendar(rows, events, cfg.freq, cfg.holidays)
    # A build from the first period carries nothing in (what carry_in(sales, date.min) would give).
    rows = (
        rows.join(carry, on=KEYS, how="left", maintain_order="left")
        if carry is not None
        else rows.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in CARRY.items())
    )
    return add_columns(rows, factors, cfg)
