"""Point-in-time features for one global direct forecaster (polars in, polars out).

Every row (series, period t) is a forecast made H periods earlier: target-derived features only read
values dated t-H or older, so the same row answers any horizon 1..H and the backtest cannot peek.
Known covariates (prices, promotions, calendar, product attributes) are read at t itself: in the future
they come from the price plans and promotion calendar. Target features are divided by `scale`, a
point-in-time level of the series, so one model can serve series of very different sizes.
"""

import json
from dataclasses import dataclass
from datetime import date

import polars as pl

KEYS = ["product_id", "store_id"]
SEASON = {"D": 7, "W": 52, "M": 12}
TARGETS = ("units_sold", "price")
CATEGORICAL = ["store_id", "category", "brand", "supplier_id"]
CALENDAR = {
    "D": ["day_of_week", "day_of_month", "week_of_year", "month"],
    "W": ["week_of_year", "month"],
    "M": ["month"],
}
PRICE_COVARIATES = ["price", "price_rel_own", "price_rel_category", "price_change_vs_anchor"]
MAX_NUMERIC_ATTRIBUTES = 20
# Columns the model does not read but forecasting and training need.
META = ["y", "is_future", "scale", "n_obs", "recent_mean", "recent_q10", "recent_q90"]


@dataclass(frozen=True)
class FeatureConfig:
    target: str = "units_sold"
    horizon: int = 14
    freq: str = "D"

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r}: expected one of {TARGETS}")
        if self.freq not in SEASON:
            raise ValueError(f"freq {self.freq!r}: expected one of {sorted(SEASON)}")
        if self.horizon < 1:
            raise ValueError("horizon must be >= 1")

    @property
    def season(self) -> int:
        return SEASON[self.freq]

    @property
    def lags(self) -> list[int]:
        """Direct lags H..H+k: the most recent values a forecast made H periods ago could see."""
        k = {"D": 7, "W": 4, "M": 3}[self.freq]
        return list(range(self.horizon, self.horizon + k))

    @property
    def seasonal_lags(self) -> list[int]:
        """The first two whole seasons back that are not already plain lags."""
        first = -(-(self.lags[-1] + 1) // self.season)
        return [self.season * m for m in (first, first + 1)]

    @property
    def windows(self) -> tuple[int, int, int]:
        """Short, medium and long rolling windows; the medium one also defines `scale`."""
        return {"D": (7, 28, 91), "W": (4, 13, 52), "M": (3, 6, 12)}[self.freq]


def feature_columns(cfg: FeatureConfig, columns: list[str]) -> tuple[list[str], list[str]]:
    """(feature names, categorical names) for a frame built by `build_features` with `cfg`.

    Numeric product attributes depend on the catalog, so they are read from the frame's columns.
    """
    short, mid, long = cfg.windows
    target = [f"lag_{k}" for k in cfg.lags] + [f"slag_{k}" for k in cfg.seasonal_lags]
    target += [f"roll_mean_{short}", f"roll_mean_{long}", f"roll_std_{mid}", f"roll_max_{mid}"]
    covariates = [] if cfg.target == "price" else list(PRICE_COVARIATES)
    covariates += ["on_promo", "category_promo_others"]
    history = ["periods_since_start", f"zero_share_{mid}", "periods_since_sale", f"observed_share_{mid}"]
    attributes = sorted(c for c in columns if c.startswith("attr_"))
    names = CATEGORICAL + target + covariates + CALENDAR[cfg.freq] + history + attributes
    return names, list(CATEGORICAL)


def period_number(col: pl.Expr, freq: str) -> pl.Expr:
    """An integer that grows by one per period, so period arithmetic is plain subtraction."""
    if freq == "D":
        return col.cast(pl.Int32)
    if freq == "W":
        return (col.cast(pl.Int32) + 3) // 7  # 1970-01-01 is a Thursday: weeks counted from Mondays
    return col.dt.year().cast(pl.Int32) * 12 + col.dt.month().cast(pl.Int32) - 1


def offset_periods(day: date, n: int, freq: str) -> date:
    """The period n periods after (n < 0: before) `day`."""
    step = {"D": f"{n}d", "W": f"{7 * n}d", "M": f"{n}mo"}[freq]
    return pl.Series([day]).dt.offset_by(step)[0]


def future_dates(last: date, cfg: FeatureConfig) -> list[date]:
    return [offset_periods(last, h, cfg.freq) for h in range(1, cfg.horizon + 1)]


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


def numeric_attributes(products: pl.DataFrame) -> pl.DataFrame:
    """product_id plus one Float64 `attr_<key>` column per JSON key whose values are all numbers."""
    records = [json.loads(a) if a else {} for a in products["attributes"].to_list()]
    numeric: dict[str, list[float | None]] = {}
    for key in sorted({k for r in records if isinstance(r, dict) for k in r}):
        values = [r.get(key) if isinstance(r, dict) else None for r in records]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            numeric[f"attr_{key}"] = [None if v is None else float(v) for v in values]
    chosen = dict(list(numeric.items())[:MAX_NUMERIC_ATTRIBUTES])
    return pl.DataFrame({"product_id": products["product_id"], **chosen}).with_columns(
        pl.col(c).cast(pl.Float64) for c in chosen
    )


def _future_rows(sales: pl.DataFrame, plans: pl.DataFrame, series: pl.DataFrame, cfg: FeatureConfig):
    """The H periods after the last actual for every known series: planned price and promotion where
    a plan exists, else the last known price and no promotion."""
    last = sales["period_date"].max()
    dates = pl.DataFrame({"period_date": future_dates(last, cfg)})
    known = pl.concat([sales.select(*KEYS), series.select(*KEYS)]).unique().sort(KEYS)
    last_price = sales.group_by(KEYS).agg(pl.col("price").drop_nulls().last().alias("_last_price"))
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
        pl.lit(True).alias("is_future"),
    )


def build_features(
    sales: pl.DataFrame, products: pl.DataFrame, plans: pl.DataFrame, series: pl.DataFrame, cfg: FeatureConfig
) -> pl.DataFrame:
    """History rows plus the H future rows of every series, with point-in-time features (see module doc)."""
    history = sales.select(
        *KEYS,
        "period_date",
        pl.col("units_sold").cast(pl.Float64),
        pl.col("price").cast(pl.Float64),
        pl.col("on_promo").fill_null(False),
        pl.col("is_observed"),
        pl.lit(False).alias("is_future"),
    ).sort([*KEYS, "period_date"])
    _check_grid(history, cfg.freq)
    catalog = products.select("product_id", "category", "brand", "supplier_id")
    rows = (
        pl.concat([history, _future_rows(history, plans, series, cfg)])
        .join(catalog, on="product_id", how="left")
        .join(numeric_attributes(products), on="product_id", how="left")
        .sort([*KEYS, "period_date"])  # every shift below relies on this order
    )
    return _add_features(rows, cfg)


def _add_features(rows: pl.DataFrame, cfg: FeatureConfig) -> pl.DataFrame:
    h, (short, mid, long) = cfg.horizon, cfg.windows
    sid = pl.col("_sid")
    rows = rows.with_columns(
        pl.struct(KEYS).rank("dense").alias("_sid"),
        pl.when(~pl.col("is_future")).then(pl.col(cfg.target)).alias("y"),
    )
    # Values as seen from t-H: every target feature below is computed from these shifted columns.
    rows = rows.with_columns(
        pl.int_range(pl.len()).over(sid).alias("periods_since_start"),
        pl.col("y").shift(h).over(sid).alias("_y_h"),
        pl.col("units_sold").shift(h).over(sid).alias("_units_h"),
        pl.col("is_observed").cast(pl.Float64).shift(h).over(sid).alias("_obs_h"),
        pl.col("is_observed").cast(pl.Int32).cum_sum().shift(h).over(sid).fill_null(0).alias("n_obs"),
        pl.col("price").shift(h).over(sid).alias("_price_h"),
        pl.col("price").shift(1).rolling_mean(mid, min_samples=1).over(sid).alias("_price_trail"),
        pl.when(pl.col("units_sold") > 0)
        .then(pl.int_range(pl.len()))
        .forward_fill()
        .over(sid)
        .alias("_sale"),
    )
    scale_floor = 1.0 / mid  # a window with no sales at all still gets a finite scale
    rows = rows.with_columns(
        pl.col("_y_h")
        .abs()
        .rolling_mean(mid, min_samples=1)
        .over(sid)
        .clip(lower_bound=scale_floor)
        .alias("scale"),
        *[pl.col("y").shift(k).over(sid).alias(f"lag_{k}") for k in cfg.lags],
        *[pl.col("y").shift(k).over(sid).alias(f"slag_{k}") for k in cfg.seasonal_lags],
        *[
            pl.col("_y_h").rolling_mean(w, min_samples=1).over(sid).alias(f"roll_mean_{w}")
            for w in (short, long)
        ],
        pl.col("_y_h").rolling_std(mid, min_samples=2).over(sid).alias(f"roll_std_{mid}"),
        pl.col("_y_h").rolling_max(mid, min_samples=1).over(sid).alias(f"roll_max_{mid}"),
        (pl.col("_units_h") == 0)
        .cast(pl.Float64)
        .rolling_mean(mid, min_samples=1)
        .over(sid)
        .alias(f"zero_share_{mid}"),
        pl.col("_obs_h").rolling_mean(mid, min_samples=1).over(sid).alias(f"observed_share_{mid}"),
        (pl.col("periods_since_start") - h - pl.col("_sale").shift(h).over(sid)).alias("periods_since_sale"),
        # Unscaled level and spread of the recent actuals, for the forecasting fallback.
        pl.col("_y_h").rolling_mean(mid, min_samples=1).over(sid).alias("recent_mean"),
        pl.col("_y_h").rolling_quantile(0.1, "linear", mid, min_samples=1).over(sid).alias("recent_q10"),
        pl.col("_y_h").rolling_quantile(0.9, "linear", mid, min_samples=1).over(sid).alias("recent_q90"),
        (pl.col("price") / pl.col("_price_trail")).alias("price_rel_own"),
        (pl.col("price") / pl.col("price").mean().over("category", "store_id", "period_date")).alias(
            "price_rel_category"
        ),
        (pl.col("price") / pl.col("_price_h") - 1).alias("price_change_vs_anchor"),
        (
            pl.col("on_promo").cast(pl.Int32).sum().over("category", "store_id", "period_date")
            - pl.col("on_promo").cast(pl.Int32)
        ).alias("category_promo_others"),
        pl.col("period_date").dt.weekday().alias("day_of_week"),
        pl.col("period_date").dt.day().alias("day_of_month"),
        pl.col("period_date").dt.week().alias("week_of_year"),
        pl.col("period_date").dt.month().alias("month"),
    )
    scaled = [f"lag_{k}" for k in cfg.lags] + [f"slag_{k}" for k in cfg.seasonal_lags]
    scaled += [f"roll_mean_{short}", f"roll_mean_{long}", f"roll_std_{mid}", f"roll_max_{mid}"]
    rows = rows.with_columns((pl.col(c) / pl.col("scale")).cast(pl.Float32) for c in scaled)
    names, _ = feature_columns(cfg, rows.columns)
    return rows.select(*KEYS, "period_date", *META, *[n for n in names if n not in KEYS]).with_columns(
        pl.col(pl.Float64).exclude(META).cast(pl.Float32)
    )
