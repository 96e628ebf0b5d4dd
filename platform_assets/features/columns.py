"""Every column a features build computes, each named in one place (polars expressions).

Every row (series, period t) is a forecast made H periods earlier: target-derived features only read
values dated t-H or older, so the same row answers any horizon 1..H and the backtest cannot peek.
Known covariates (prices, promotions, calendar, product attributes) are read at t itself: in the future
they come from the price plans and promotion calendar. Target features are divided by `scale`, a
point-in-time level of the series, so one model can serve series of very different sizes.

A column is a `Column`: its name and the expression computing it, made together by one small function
or constant below (`lag`, `roll_mean`, `PRICE_REL_CATEGORY`, ...). The builder (`add_columns`) and the
model's list of features (`feature_columns`) read the same `Column`s, so a rename cannot make them
diverge. The expressions read working columns prepared first (`_working`): the target, units,
observation flag and price as seen from t-H, and whole-number versions of the target and the price for
exact window sums (features/exact.py).
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import base_freq, period_number
from platform_assets.features.attributes import attribute_columns
from platform_assets.features.config import FeatureConfig
from platform_assets.features.exact import window_mean, window_std

# The only features reading other series compare a series with its peers: the same category in the same
# store on the same day. A build over whole peer groups gives their rows exactly (features/chunks.py).
PEERS = ("category", "store_id")
SAME_DAY = (*PEERS, "period_date")
CATEGORICAL = ["store_id", "category", "brand", "supplier_id"]
# The point-in-time level of a series that target features (and the model's target) are divided by.
SCALE = "scale"


@dataclass(frozen=True)
class Basis:
    """What column expressions read besides the working columns: the settings and the window-sum
    factors of the build (None: the column's window sums are not exact, its values are used as they are)."""

    cfg: FeatureConfig
    factors: dict[str, int | None]

    @property
    def sid(self) -> pl.Expr:
        """The series of a row (windows and shifts run within it)."""
        return pl.col("_sid")

    @property
    def period(self) -> pl.Expr:
        return period_number(pl.col("period_date"), self.cfg.freq)

    @property
    def fy(self) -> int:
        return self.factors["y"] or 1

    @property
    def fp(self) -> int:
        return self.factors["price"] or 1


@dataclass(frozen=True)
class Column:
    """A column of the features table: its name and how it is computed (None: an input column, kept as
    it is). `scaled`: a target feature, divided by the row's `scale` as the model's target is."""

    name: str
    compute: Callable[[Basis], pl.Expr] | None = None
    scaled: bool = False

    def expr(self, basis: Basis) -> pl.Expr:
        if self.compute is None:
            raise ValueError(f"{self.name} is an input column: there is nothing to compute")
        value = self.compute(basis)
        return ((value / pl.col(SCALE)).cast(pl.Float32) if self.scaled else value).alias(self.name)


# Target features, from values at least H periods old.
def lag(k: int, prefix: str = "lag") -> Column:
    """The target k >= H periods back (prefix "slag": a whole number of seasons back)."""
    return Column(f"{prefix}_{k}", lambda b: pl.col("y").shift(k).over(b.sid), scaled=True)


def roll_mean(window: int) -> Column:
    """Mean of the target over the `window` periods up to t-H."""
    return Column(f"roll_mean_{window}", lambda b: window_mean("_q_h", window, b.sid) / b.fy, scaled=True)


def roll_std(window: int) -> Column:
    return Column(f"roll_std_{window}", lambda b: window_std("_q_h", window, b.sid) / b.fy, scaled=True)


def roll_max(window: int) -> Column:
    return Column(
        f"roll_max_{window}",
        lambda b: pl.col("_y_h").rolling_max(window, min_samples=1).over(b.sid),
        scaled=True,
    )


def zero_share(window: int) -> Column:
    """Share of the `window` periods up to t-H that sold nothing."""
    return Column(
        f"zero_share_{window}",
        lambda b: (pl.col("_units_h") == 0).cast(pl.Float64).rolling_mean(window, min_samples=1).over(b.sid),
    )


def observed_share(window: int) -> Column:
    """Share of the `window` periods up to t-H with an observation."""
    return Column(
        f"observed_share_{window}",
        lambda b: pl.col("_obs_h").rolling_mean(window, min_samples=1).over(b.sid),
    )


def _periods_since_start(b: Basis) -> pl.Expr:
    """From the series' first period, carried in when the build starts mid-history."""
    first = pl.coalesce("first_period", pl.col("period_date").min().over(b.sid))
    return (b.period - period_number(first, b.cfg.freq)).cast(pl.Int64)


PERIODS_SINCE_START = Column("periods_since_start", _periods_since_start)
# Periods from the last sale seen at t-H to t-H (the last sale before the build's rows is carried in).
PERIODS_SINCE_SALE = Column(
    "periods_since_sale",
    lambda b: (b.period - b.cfg.horizon - pl.col("_sale").shift(b.cfg.horizon).over(b.sid)).cast(pl.Int64),
)


# Known covariates, read at t.
def price_rel_own(window: int) -> Column:
    """The price against the series' own mean price over the `window` periods before t."""
    return Column(
        "price_rel_own", lambda b: pl.col("price") / (window_mean("_price_q1", window, b.sid) / b.fp)
    )


def _category_price(b: Basis) -> pl.Expr:
    """The mean price of the peers (exact sums of whole cents when the prices allow it)."""
    return pl.col("_price_q").sum().over(SAME_DAY) / pl.col("price").count().over(SAME_DAY) / b.fp


PRICE_REL_CATEGORY = Column("price_rel_category", lambda b: pl.col("price") / _category_price(b))
# The price against the one the forecast's origin (t-H) saw.
PRICE_CHANGE_VS_ANCHOR = Column("price_change_vs_anchor", lambda b: pl.col("price") / pl.col("_price_h") - 1)
# How many peers are on promotion besides this series.
CATEGORY_PROMO_OTHERS = Column(
    "category_promo_others",
    lambda b: pl.col("on_promo").cast(pl.Int32).sum().over(SAME_DAY) - pl.col("on_promo").cast(pl.Int32),
)
DAY_OF_WEEK = Column("day_of_week", lambda b: pl.col("period_date").dt.weekday())
DAY_OF_MONTH = Column("day_of_month", lambda b: pl.col("period_date").dt.day())
WEEK_OF_YEAR = Column("week_of_year", lambda b: pl.col("period_date").dt.week())
MONTH = Column("month", lambda b: pl.col("period_date").dt.month())
# The calendar features of each period length (a monthly period has no weekday).
CALENDAR = {
    "D": [DAY_OF_WEEK, DAY_OF_MONTH, WEEK_OF_YEAR, MONTH],
    "W": [WEEK_OF_YEAR, MONTH],
    "M": [MONTH],
}
# Holidays and events per period (features/calendar.py joins them in before the columns are computed):
# present when SHELFCAST_HOLIDAYS names a country / when the landing zone has events, so read from the
# frame like the catalog's attributes.
HOLIDAYS_IN_PERIOD = Column("holidays_in_period")
DAYS_TO_HOLIDAY = Column("days_to_holiday")
DAYS_SINCE_HOLIDAY = Column("days_since_holiday")
EVENTS_IN_PERIOD = Column("events_in_period")
DAYS_TO_EVENT = Column("days_to_event")
DAYS_SINCE_EVENT = Column("days_since_event")
KNOWN_AHEAD = [
    HOLIDAYS_IN_PERIOD,
    DAYS_TO_HOLIDAY,
    DAYS_SINCE_HOLIDAY,
    EVENTS_IN_PERIOD,
    DAYS_TO_EVENT,
    DAYS_SINCE_EVENT,
]


# Columns the model does not read but forecasting and training need (besides `y` and `is_future`).
def scale(window: int) -> Column:
    """Mean absolute target over the `window` periods up to t-H; a window with no sales at all still
    gets a finite scale."""
    floor = 1.0 / window
    return Column(SCALE, lambda b: (window_mean("_q_abs_h", window, b.sid) / b.fy).clip(lower_bound=floor))


def _observed_periods(b: Basis) -> pl.Expr:
    """Observed periods up to t-H, continuing the count carried in."""
    before = pl.col("is_observed").cast(pl.Int32).cum_sum().shift(b.cfg.horizon).over(b.sid).fill_null(0)
    return (before + pl.col("observed_before").fill_null(0)).cast(pl.Int32)


N_OBS = Column("n_obs", _observed_periods)


def recent(name: str, quantile: float, window: int) -> Column:
    """A quantile of the `window` actuals up to t-H, unscaled: the forecasting fallback's level and band."""
    return Column(
        name, lambda b: pl.col("_y_h").rolling_quantile(quantile, "linear", window, min_samples=1).over(b.sid)
    )


def meta_columns(cfg: FeatureConfig) -> list[Column]:
    mid = cfg.windows[1]
    return [
        scale(mid),
        N_OBS,
        recent("recent_median", 0.5, mid),
        recent("recent_q10", 0.1, mid),
        recent("recent_q90", 0.9, mid),
    ]


def model_features(cfg: FeatureConfig) -> list[Column]:
    """The model's features in its column order, but for the catalog's attributes (`feature_columns`)."""
    short, mid, long = cfg.windows
    target = [lag(k) for k in cfg.lags] + [lag(k, "slag") for k in cfg.seasonal_lags]
    target += [roll_mean(short), roll_mean(long), roll_std(mid), roll_max(mid)]
    price = [Column("price"), price_rel_own(mid), PRICE_REL_CATEGORY, PRICE_CHANGE_VS_ANCHOR]
    covariates = ([] if cfg.target == "price" else price) + [Column("on_promo"), CATEGORY_PROMO_OTHERS]
    history = [PERIODS_SINCE_START, zero_share(mid), PERIODS_SINCE_SALE, observed_share(mid)]
    return [Column(c) for c in CATEGORICAL] + target + covariates + CALENDAR[base_freq(cfg.freq)] + history


def feature_columns(cfg: FeatureConfig, columns: list[str]) -> tuple[list[str], list[str]]:
    """(feature names, categorical names) for a frame built by `build_features` with `cfg`.

    Numeric product attributes depend on the catalog, and holidays and events on the settings and the
    landing zone, so they are read from the frame's columns.
    """
    known_ahead = [c.name for c in KNOWN_AHEAD if c.name in columns]
    names = [c.name for c in model_features(cfg)] + known_ahead + attribute_columns(columns)
    return names, list(CATEGORICAL)


def _working(b: Basis) -> list[list[pl.Expr]]:
    """The values the columns read, in three passes: as seen from t-H (every target feature reads these
    shifted columns), whole-number versions of the target and the price, and the last period with a
    sale, continuing the state carried in, so a build starting mid-history equals one from the first
    period."""
    h, sid, factors = b.cfg.horizon, b.sid, b.factors
    return [
        [
            pl.col("y").shift(h).over(sid).alias("_y_h"),
            pl.col("units_sold").shift(h).over(sid).alias("_units_h"),
            pl.col("is_observed").cast(pl.Float64).shift(h).over(sid).alias("_obs_h"),
            pl.col("price").shift(h).over(sid).alias("_price_h"),
            ((pl.col("price") * b.fp).round() if factors["price"] else pl.col("price")).alias("_price_q"),
            pl.when(pl.col("units_sold") > 0)
            .then(b.period)
            .forward_fill()
            .over(sid)
            .fill_null(period_number(pl.col("last_sale_before"), b.cfg.freq))
            .alias("_sale"),
        ],
        [
            ((pl.col("_y_h") * b.fy).round() if factors["y"] else pl.col("_y_h")).alias("_q_h"),
            pl.col("_price_q").shift(1).over(sid).alias("_price_q1"),
        ],
        [pl.col("_q_h").abs().alias("_q_abs_h")],
    ]


@functools.lru_cache(maxsize=32)
def _passes(
    cfg: FeatureConfig, factors: tuple[tuple[str, int | None], ...]
) -> tuple[list[list[pl.Expr]], list[str]]:
    """The `with_columns` passes of `add_columns` and the meta columns' names, made once per settings
    and factors: building the expressions costs more than a small build (a what-if's peer group)."""
    b = Basis(cfg, dict(factors))
    meta = meta_columns(cfg)
    features = [c for c in model_features(cfg) if c.compute is not None]
    first = [
        pl.struct(KEYS).rank("dense").alias("_sid"),
        # a missing period (its store reported nothing) has no target, whatever the target column says
        pl.when(~pl.col("is_future") & ~pl.col("is_missing")).then(pl.col(cfg.target)).alias("y"),
    ]
    passes = [first, *_working(b), [c.expr(b) for c in meta], [c.expr(b) for c in features]]
    return passes, [c.name for c in meta]


def add_columns(rows: pl.DataFrame, factors: dict[str, int | None], cfg: FeatureConfig) -> pl.DataFrame:
    """The features table's rows: keys, period, the target `y`, `is_future`, the meta columns and the
    model's features, from `rows` sorted by series and period, with the inputs and carried-in state."""
    passes, meta = _passes(cfg, tuple(sorted(factors.items())))
    rows = rows.lazy()  # lazy: shared window sums are computed once (CSE)
    for exprs in passes:
        rows = rows.with_columns(exprs)
    names, _ = feature_columns(cfg, rows.collect_schema().names())
    full_precision = ["y", "is_future", *meta]  # the features are stored as Float32
    return (
        rows.select(*KEYS, "period_date", *full_precision, *[n for n in names if n not in KEYS])
        .with_columns(pl.col(pl.Float64).exclude(full_precision).cast(pl.Float32))
        .collect()
    )
