"""Point-in-time features for one global direct forecaster (polars in, polars out).

Every row (series, period t) is a forecast made H periods earlier: target-derived features only read
values dated t-H or older, so the same row answers any horizon 1..H and the backtest cannot peek.
Known covariates (prices, promotions, calendar, product attributes) are read at t itself: in the future
they come from the price plans and promotion calendar. Target features are divided by `scale`, a
point-in-time level of the series, so one model can serve series of very different sizes.

Incremental builds (`build_features_since`): because every feature of period t reads only periods
t - `FeatureConfig.lookback` .. t (bounded lags and windows) or a per-series running state (first
period, observed periods, last sale, last known price: `carry_in`), the rows from period `since` on
can be rebuilt from the marts' rows from `since - lookback` on plus that state, and equal the rows a
from-scratch build gives. Equal to the bit: window means and standard deviations are computed from
rolling sums of values scaled to whole numbers (`exact_factors`: units, cents), which are exact, so
they do not depend on where the rows start (polars' own rolling mean/std carry rounding from the
first row of the frame). Values that cannot be scaled that way make `exact_factors` return None for
the column, and callers build from scratch instead.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import SEASON, offset_periods, period_number, period_start

# The only features reading other series compare a series with its peers: the same category in the same
# store on the same day. A build over whole peer groups gives their rows exactly (`category_chunks`).
PEERS = ("category", "store_id")
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
META = ["y", "is_future", "scale", "n_obs", "recent_median", "recent_q10", "recent_q90"]
# Per-series state a build starting mid-history needs from the periods before its rows (`carry_in`).
CARRY = {
    "first_period": pl.Date,
    "observed_before": pl.Int64,
    "last_sale_before": pl.Date,
    "last_price_before": pl.Float64,
}
# Scale factors tried to make a column's values whole numbers (exact window sums): units, cents.
EXACT_FACTORS = (1, 100)
# Window sums stay exact (below 2**53) for |scaled value| up to this, squares included.
_EXACT_MAX = 2**23


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

    @property
    def lookback(self) -> int:
        """How many periods before t the features of t read (beyond the running state in CARRY):
        the longest lag, a window over values shifted by the horizon, the price trail, the anchor price."""
        short, mid, long = self.windows
        return max(*self.lags, *self.seasonal_lags, self.horizon + long - 1, mid, self.horizon)


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
        pl.lit(True).alias("is_future"),
    )


def exact_factors(sales: pl.DataFrame, cfg: FeatureConfig) -> dict[str, int | None]:
    """For the target and the price: the smallest of EXACT_FACTORS making every value a whole number
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


def carry_in(sales: pl.DataFrame, before: date) -> pl.DataFrame:
    """Per series, the running state a build from `before` on needs of the earlier periods (CARRY):
    its first period, how many periods were observed, the last period with a sale and the last known
    price before `before`. The polars twin of the SQL the features asset runs on the warehouse."""
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


@dataclass(frozen=True)
class Chunk:
    """Whole peer groups (PEERS) built together: the products of `categories` (None: the products with
    no category or missing from the catalog) in every store, or in `stores` only."""

    categories: tuple[str | None, ...]
    stores: tuple[str, ...] | None = None

    def select(self, frame: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
        """The rows of `frame` (sales, series, plans: keyed by product and store) in this chunk."""
        named = [c for c in self.categories if c is not None]
        inside = pl.col("product_id").is_in(products.filter(pl.col("category").is_in(named))["product_id"])
        if None in self.categories:
            categorized = products.filter(pl.col("category").is_not_null())["product_id"]
            inside = inside | ~pl.col("product_id").is_in(categorized)
        if self.stores is not None:
            inside = inside & pl.col("store_id").is_in(self.stores)
        return frame.filter(inside)


def category_chunks(products: pl.DataFrame, rows: pl.DataFrame, max_rows: int) -> list[Chunk]:
    """Peer groups packed, in sorted order, into chunks of at most `max_rows` rows: whole categories while
    they fit, a bigger category split by store (a store's group bigger still is a chunk of its own).
    `rows`: product_id, store_id and n, the series' rows (listed more than once, they add up; list the
    series without rows too, with n = 0, so a chunk builds their future rows)."""
    groups = (
        rows.join(products.select("product_id", "category"), on="product_id", how="left")
        .group_by(PEERS)
        .agg(pl.col("n").sum())
        .sort(PEERS, nulls_last=True)
        .group_by("category", maintain_order=True)
        .agg("store_id", "n")
    )
    chunks: list[Chunk] = []
    pending: list[str | None] = []  # whole categories waiting for the next chunk
    size = 0
    for category, stores, counts in groups.iter_rows():
        if pending and size + sum(counts) > max_rows:
            chunks.append(Chunk(tuple(pending)))
            pending, size = [], 0
        if sum(counts) <= max_rows:
            pending.append(category)
            size += sum(counts)
            continue
        part: list[str] = []
        part_size = 0
        for store, n in zip(stores, counts, strict=True):
            if part and part_size + n > max_rows:
                chunks.append(Chunk((category,), tuple(part)))
                part, part_size = [], 0
            part.append(store)
            part_size += n
        chunks.append(Chunk((category,), tuple(part)))
    if pending:
        chunks.append(Chunk(tuple(pending)))
    return chunks


def build_features(
    sales: pl.DataFrame,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    cfg: FeatureConfig,
    factors: dict[str, int | None] | None = None,
    last: date | None = None,
) -> pl.DataFrame:
    """History rows plus the H future rows of every series, with point-in-time features (see module doc).
    `factors`: `exact_factors(sales, cfg)` when the caller has it already. To build whole peer groups
    only (a `Chunk` of the sales, series and plans, the whole catalog), pass the factors and `last`
    period of all the sales: the rows are then exactly those of the build over everything."""
    factors = exact_factors(sales, cfg) if factors is None else factors
    return _build(sales, products, plans, series, None, factors, last, cfg)


def build_features_since(
    sales: pl.DataFrame,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    carry: pl.DataFrame,
    since: date,
    factors: dict[str, int | None],
    cfg: FeatureConfig,
) -> pl.DataFrame:
    """The rows of `build_features` from period `since` on (history and future), from `sales` rows
    dated `lookback_start(since, cfg)` or later, `carry = carry_in(all sales, lookback_start(...))` and the
    `factors` the from-scratch build used (`exact_factors` of all sales; none may be None)."""
    if any(f is None for f in factors.values()):
        raise ValueError(f"an incremental build needs exact window sums, got factors {factors}")
    start = lookback_start(since, cfg)
    if sales.height and sales["period_date"].min() < start:
        sales = sales.filter(pl.col("period_date") >= start)
    frame = _build(sales, products, plans, series, carry, factors, None, cfg)
    return frame.filter(pl.col("period_date") >= period_start(since, cfg.freq))


def lookback_start(since: date, cfg: FeatureConfig) -> date:
    """The first period an incremental build from `since` reads."""
    return offset_periods(period_start(since, cfg.freq), -cfg.lookback, cfg.freq)


def _build(
    sales: pl.DataFrame,
    products: pl.DataFrame,
    plans: pl.DataFrame,
    series: pl.DataFrame,
    carry: pl.DataFrame | None,
    factors: dict[str, int | None],
    last: date | None,
    cfg: FeatureConfig,
) -> pl.DataFrame:
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
    last = history["period_date"].max() if last is None else last
    catalog = products.select("product_id", "category", "brand", "supplier_id")
    rows = (
        pl.concat([history, _future_rows(history, plans, series, carry, last, cfg)])
        .join(catalog, on="product_id", how="left")
        .join(numeric_attributes(products), on="product_id", how="left")
        .sort([*KEYS, "period_date"])  # every shift below relies on this order
    )
    # A build from the first period carries nothing in (what carry_in(sales, date.min) would give).
    rows = (
        rows.join(carry, on=KEYS, how="left", maintain_order="left")
        if carry is not None
        else rows.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in CARRY.items())
    )
    return _add_features(rows, factors, cfg)


def _window_mean(value: str, window: int, sid: pl.Expr) -> pl.Expr:
    """Rolling mean of a column of whole numbers (nulls skipped, null when the window has none), from
    exact rolling sums: the result does not depend on how many rows precede the window."""
    total = pl.col(value).fill_null(0).rolling_sum(window, min_samples=1).over(sid)
    count = pl.col(value).is_not_null().cast(pl.Float64).rolling_sum(window, min_samples=1).over(sid)
    return pl.when(count > 0).then(total / count)


def _window_std(value: str, window: int, sid: pl.Expr) -> pl.Expr:
    """Rolling sample standard deviation (ddof 1, at least 2 values) from exact sums and sums of squares."""
    x = pl.col(value).fill_null(0)
    total = x.rolling_sum(window, min_samples=1).over(sid)
    squares = (x * x).rolling_sum(window, min_samples=1).over(sid)
    count = pl.col(value).is_not_null().cast(pl.Float64).rolling_sum(window, min_samples=1).over(sid)
    variance = ((squares - total * total / count) / (count - 1)).clip(lower_bound=0)
    return pl.when(count >= 2).then(variance.sqrt())


def _add_features(rows: pl.DataFrame, factors: dict[str, int | None], cfg: FeatureConfig) -> pl.DataFrame:
    h, (short, mid, long) = cfg.horizon, cfg.windows
    sid = pl.col("_sid")
    fy, fp = factors["y"] or 1, factors["price"] or 1
    period = period_number(pl.col("period_date"), cfg.freq)
    rows = rows.lazy().with_columns(  # lazy: shared window sums are computed once (CSE)
        pl.struct(KEYS).rank("dense").alias("_sid"),
        pl.when(~pl.col("is_future")).then(pl.col(cfg.target)).alias("y"),
    )
    # Values as seen from t-H: every target feature below is computed from these shifted columns.
    # Running state (periods since start, observed periods, last sale) continues the carried-in state
    # (CARRY), so a build starting mid-history gives the same values as one from the first period.
    first = pl.coalesce("first_period", pl.col("period_date").min().over(sid))
    rows = rows.with_columns(
        (period - period_number(first, cfg.freq)).cast(pl.Int64).alias("periods_since_start"),
        pl.col("y").shift(h).over(sid).alias("_y_h"),
        pl.col("units_sold").shift(h).over(sid).alias("_units_h"),
        pl.col("is_observed").cast(pl.Float64).shift(h).over(sid).alias("_obs_h"),
        (
            pl.col("is_observed").cast(pl.Int32).cum_sum().shift(h).over(sid).fill_null(0)
            + pl.col("observed_before").fill_null(0)
        )
        .cast(pl.Int32)
        .alias("n_obs"),
        pl.col("price").shift(h).over(sid).alias("_price_h"),
        ((pl.col("price") * fp).round() if factors["price"] else pl.col("price")).alias("_price_q"),
        pl.when(pl.col("units_sold") > 0)
        .then(period)
        .forward_fill()
        .over(sid)
        .fill_null(period_number(pl.col("last_sale_before"), cfg.freq))
        .alias("_sale"),
    )
    # Whole-number versions of the shifted target and price (exact window sums; see module doc).
    rows = rows.with_columns(
        ((pl.col("_y_h") * fy).round() if factors["y"] else pl.col("_y_h")).alias("_q_h"),
        pl.col("_price_q").shift(1).over(sid).alias("_price_q1"),
    ).with_columns(pl.col("_q_h").abs().alias("_q_abs_h"))
    same_day = (*PEERS, "period_date")
    category_price = pl.col("_price_q").sum().over(same_day) / pl.col("price").count().over(same_day) / fp
    scale_floor = 1.0 / mid  # a window with no sales at all still gets a finite scale
    rows = rows.with_columns(
        (_window_mean("_q_abs_h", mid, sid) / fy).clip(lower_bound=scale_floor).alias("scale"),
        *[pl.col("y").shift(k).over(sid).alias(f"lag_{k}") for k in cfg.lags],
        *[pl.col("y").shift(k).over(sid).alias(f"slag_{k}") for k in cfg.seasonal_lags],
        *[(_window_mean("_q_h", w, sid) / fy).alias(f"roll_mean_{w}") for w in (short, long)],
        (_window_std("_q_h", mid, sid) / fy).alias(f"roll_std_{mid}"),
        pl.col("_y_h").rolling_max(mid, min_samples=1).over(sid).alias(f"roll_max_{mid}"),
        (pl.col("_units_h") == 0)
        .cast(pl.Float64)
        .rolling_mean(mid, min_samples=1)
        .over(sid)
        .alias(f"zero_share_{mid}"),
        pl.col("_obs_h").rolling_mean(mid, min_samples=1).over(sid).alias(f"observed_share_{mid}"),
        (period - h - pl.col("_sale").shift(h).over(sid)).cast(pl.Int64).alias("periods_since_sale"),
        # Unscaled level and spread of the recent actuals, for the forecasting fallback.
        pl.col("_y_h").rolling_quantile(0.5, "linear", mid, min_samples=1).over(sid).alias("recent_median"),
        pl.col("_y_h").rolling_quantile(0.1, "linear", mid, min_samples=1).over(sid).alias("recent_q10"),
        pl.col("_y_h").rolling_quantile(0.9, "linear", mid, min_samples=1).over(sid).alias("recent_q90"),
        (pl.col("price") / (_window_mean("_price_q1", mid, sid) / fp)).alias("price_rel_own"),
        (pl.col("price") / category_price).alias("price_rel_category"),
        (pl.col("price") / pl.col("_price_h") - 1).alias("price_change_vs_anchor"),
        (pl.col("on_promo").cast(pl.Int32).sum().over(same_day) - pl.col("on_promo").cast(pl.Int32)).alias(
            "category_promo_others"
        ),
        pl.col("period_date").dt.weekday().alias("day_of_week"),
        pl.col("period_date").dt.day().alias("day_of_month"),
        pl.col("period_date").dt.week().alias("week_of_year"),
        pl.col("period_date").dt.month().alias("month"),
    )
    scaled = [f"lag_{k}" for k in cfg.lags] + [f"slag_{k}" for k in cfg.seasonal_lags]
    scaled += [f"roll_mean_{short}", f"roll_mean_{long}", f"roll_std_{mid}", f"roll_max_{mid}"]
    rows = rows.with_columns((pl.col(c) / pl.col("scale")).cast(pl.Float32) for c in scaled)
    names, _ = feature_columns(cfg, rows.collect_schema().names())
    return (
        rows.select(*KEYS, "period_date", *META, *[n for n in names if n not in KEYS])
        .with_columns(pl.col(pl.Float64).exclude(META).cast(pl.Float32))
        .collect()
    )
