"""A deterministic retail feed with the structure a demand forecaster must learn, and a drift switch.

Prices and promotions are chain-wide per product and day; demand is per product, store and day:

    log mu = level + store + weekly(category, product) + yearly(category) + trend
             + elasticity * log(price / regular price) + promo display lift
             - cross-price effect (competitors of the category on promotion)
             + electronics life cycle (ramp-up after launch, then decay)

Units are negative-binomial counts drawn by inverse CDF from uniforms drawn up front, and every
random stream comes from its own child of the seed, so a row depends only on inputs up to its own
day: the drift switch, which acts from `drift_from` on, cannot move a single row before it.
"""

import functools
import itertools
import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from platform_assets.core.periods import check_freq
from platform_assets.core.schemas import (
    RAW_OBSERVATIONS,
    RAW_PRODUCTS,
    RAW_SUPPLIERS,
    REJECTED_ROWS,
    conform,
    empty,
)
from platform_assets.feeds.base import FeedResult

DRIFT_KINDS = ("demand", "price", "both")
# What the drift switch does: half the catalog sells twice as much with a new weekly pattern (demand),
# one category's price regime jumps 25% and its main supplier adds 10% (price).
DEMAND_DRIFT_SHARE, DEMAND_DRIFT_FACTOR = 0.5, 2.0
PRICE_DRIFT_CATEGORY, PRICE_DRIFT_SUPPLIER = 1.25, 1.10
SOURCE = "synthetic"


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; hashable, so the generated frames are cached per configuration."""

    products: int = 100
    stores: int = 3
    days: int = 730
    start: date = date(2024, 11, 1)
    seed: int = 42
    horizon: int = 14  # plan rows (prices, promotions, no units) after the last actual day
    drift_from: date | None = None
    drift_kind: str = "demand"

    def __post_init__(self) -> None:
        if self.drift_kind not in DRIFT_KINDS:
            raise ValueError(f"drift_kind={self.drift_kind!r}: expected one of {', '.join(DRIFT_KINDS)}")
        if min(self.products, self.stores, self.days) < 1 or self.horizon < 0:
            raise ValueError(f"products, stores and days must be >= 1 and horizon >= 0: {self}")

    @property
    def last_actual(self) -> date:
        return self.start + timedelta(days=self.days - 1)


@dataclass(frozen=True)
class _Category:
    name: str
    weight: float  # share of the catalog
    price: tuple[float, float]  # base unit price range (log-uniform)
    level: tuple[float, float]  # mean units per day and store (log-uniform)
    elasticity: float  # own-price elasticity of a temporary price cut
    promo_rate: float  # share of weeks a product is on promotion
    depth: tuple[float, float]  # promotion discount range
    cross: float  # demand lost per unit of the category's average competitor discount
    weekly: tuple[float, ...]  # log demand by weekday, Monday first
    yearly_amp: float
    yearly_peak: int  # day of year of the seasonal peak
    items: tuple[str, ...]
    brands: tuple[str, ...]


# fmt: off
_CATEGORIES = (
    _Category(
        "grocery", 0.36, (1.2, 9.0), (3.0, 30.0), -2.4, 0.12, (0.10, 0.30), 3.0,
        (-0.12, -0.15, -0.08, 0.0, 0.12, 0.28, -0.05), 0.08, 355,
        ("Coffee Beans", "Oat Milk", "Pasta", "Olive Oil", "Granola", "Tomato Sauce", "Rice", "Green Tea"),
        ("Nordvik", "Casa Bella", "Greenfield", "Sunmill"),
    ),
    _Category(
        "household", 0.20, (2.0, 14.0), (1.5, 10.0), -1.8, 0.09, (0.10, 0.25), 2.0,
        (-0.05, -0.08, -0.05, 0.0, 0.05, 0.20, -0.07), 0.05, 90,
        ("Dish Soap", "Paper Towels", "Laundry Detergent", "Trash Bags", "Sponges", "Glass Cleaner"),
        ("Brightly", "HomeCo", "Purex Basics", "Tidy"),
    ),
    _Category(
        "electronics", 0.14, (25.0, 400.0), (0.4, 4.0), -2.8, 0.05, (0.15, 0.35), 4.0,
        (-0.10, -0.12, -0.10, -0.05, 0.05, 0.25, 0.12), 0.30, 350,
        ("Wireless Earbuds", "Smartwatch", "Bluetooth Speaker", "Tablet", "E-Reader", "Power Bank"),
        ("Voltra", "Kairo", "Lumen", "Zentek"),
    ),
    _Category(
        "apparel", 0.15, (8.0, 70.0), (0.5, 6.0), -2.0, 0.10, (0.20, 0.40), 2.0,
        (-0.15, -0.15, -0.10, -0.05, 0.10, 0.35, 0.05), 0.20, 110,
        ("T-Shirt", "Hoodie", "Jeans", "Socks", "Rain Jacket", "Sneakers"),
        ("Northline", "Urbana", "Fjell", "Cotton & Co"),
    ),
    _Category(
        "personal_care", 0.15, (1.5, 15.0), (1.0, 12.0), -1.6, 0.10, (0.10, 0.30), 2.0,
        (-0.05, -0.05, -0.02, 0.0, 0.05, 0.12, -0.05), 0.15, 190,
        ("Shampoo", "Toothpaste", "Sunscreen", "Body Lotion", "Deodorant", "Hand Soap"),
        ("Pura", "Dermalis", "Freshé", "Aloa"),
    ),
)
# fmt: on
_IDX = {c.name: i for i, c in enumerate(_CATEGORIES)}
_ELECTRONICS = _IDX["electronics"]
_PACK_SIZES = np.array([1, 1, 1, 2, 4, 6])
_SUPPLIER_NAMES = ("Trading", "Wholesale", "Distribution", "Imports", "Supply", "Partners")
_COUNTRIES = np.array(["DE", "NL", "CN", "US", "VN", "PL", "IT", "TW"])
_CLOSED = ((12, 25), (1, 1))  # (month, day) the stores are closed: no rows at all
_MISSING_RATE = 0.015  # share of actual product-store-days with no row (feed gaps)


class SyntheticFeed:
    """The default feed: its skeleton (catalog, prices, demand means, which rows exist) generated once
    per configuration and process; units are drawn only for the days a slice asks for."""

    name = "synthetic"

    def __init__(self, config: SynthConfig, freq: str | None = None) -> None:
        self.config = config
        self.freq = check_freq(freq) or "D"

    def products(self) -> FeedResult:
        df = _skeleton(self.config).catalog["products"]
        return FeedResult(df, empty(REJECTED_ROWS), df.height)

    def suppliers(self) -> FeedResult:
        df = _skeleton(self.config).catalog["suppliers"]
        return FeedResult(df, empty(REJECTED_ROWS), df.height)

    def observations(self, start: date, end: date) -> FeedResult:
        df = _observations(self.config, start, end)
        return FeedResult(df, empty(REJECTED_ROWS), df.height)

    def span(self) -> tuple[date, date]:
        days = np.flatnonzero(_skeleton(self.config).present.any(axis=(0, 1)))
        return tuple(self.config.start + timedelta(days=int(d)) for d in (days[0], days[-1]))


@dataclass(frozen=True)
class _Skeleton:
    """Everything but the units: drawing those (the negative-binomial inverse CDF) is ~90% of the cost,
    so a slice draws them for its own days only. Each unit depends on its own uniform, dispersion and
    mean alone, so the slice's units are the ones the whole history would have."""

    catalog: dict
    price: np.ndarray  # (products, days)
    on_promo: np.ndarray  # (products, days)
    mu: np.ndarray  # (products, stores, days)
    u: np.ndarray  # (products, stores, days)
    present: np.ndarray  # (products, stores, days)


def generate(config: SynthConfig) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(products, suppliers, observations over the whole history) for a configuration."""
    sk = _skeleton(config)
    end = config.start + timedelta(days=sk.present.shape[2])
    return sk.catalog["products"], sk.catalog["suppliers"], _observations(config, config.start, end)


generate.cache_clear = lambda: _skeleton.cache_clear()  # regenerate for real (tests)


def _observations(config: SynthConfig, start: date, end: date) -> pl.DataFrame:
    """The observation rows dated start <= date < end, exactly as in the whole history."""
    from scipy import stats  # imported here: 1.5 s that loading the code location should not pay

    sk = _skeleton(config)
    n_days = sk.present.shape[2]
    lo = min(max((start - config.start).days, 0), n_days)
    hi = min(max((end - config.start).days, lo), n_days)
    window = slice(lo, hi)
    r = sk.catalog["dispersion"][:, None, None]
    mu = sk.mu[:, :, window]
    units = np.zeros(mu.shape)
    present = sk.present[:, :, window]
    if present.any():
        units[present] = stats.nbinom.ppf(sk.u[:, :, window], r, r / (r + mu))[present]
    first_line = int(sk.present[:, :, :lo].sum())  # source lines count rows from the first day
    return _rows(
        config, sk.catalog, present, units, sk.price[:, window], sk.on_promo[:, window], lo, first_line
    )


@functools.lru_cache(maxsize=4)
def _skeleton(config: SynthConfig) -> _Skeleton:
    """The configuration's catalog, prices, demand means, uniforms and row mask, cached: every asset
    asks for them."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    cat_rng, price_rng, promo_rng, noise_rng, gap_rng, drift_rng = rngs
    catalog = _catalog(config, cat_rng)
    n_days = config.days + config.horizon
    day = np.arange(n_days)
    calendar = pl.select(pl.date_range(config.start, config.start + timedelta(days=n_days - 1), "1d"))
    dates = calendar.to_series()
    weekday = dates.dt.weekday().to_numpy() - 1  # Monday = 0
    doy = dates.dt.ordinal_day().to_numpy()
    month, dom = dates.dt.month().to_numpy(), dates.dt.day().to_numpy()
    drift_day = n_days if config.drift_from is None else max(0, (config.drift_from - config.start).days)
    after_drift = day >= drift_day
    drift = _drift_choices(catalog, drift_rng)

    regular, price, on_promo, depth = _prices(config, catalog, price_rng, promo_rng, dates, weekday, day)
    if config.drift_kind in ("price", "both"):
        hit = (catalog["cat"] == drift["category"])[:, None] & after_drift[None, :]
        raised = (catalog["supplier"] == drift["supplier"])[:, None] & after_drift[None, :]
        factor = np.where(hit, PRICE_DRIFT_CATEGORY, 1.0) * np.where(raised, PRICE_DRIFT_SUPPLIER, 1.0)
        regular, price = np.round(regular * factor, 2), np.round(price * factor, 2)

    mu = _demand(
        config, catalog, drift, regular, price, on_promo, depth, weekday, doy, month, dom, after_drift
    )
    u = np.clip(noise_rng.random(mu.shape), 1e-12, 1 - 1e-12)

    gaps = gap_rng.random(mu.shape) < _MISSING_RATE
    closed = np.zeros(n_days, dtype=bool)
    for m, d in _CLOSED:
        closed |= (month == m) & (dom == d)
    alive = (day[None, :] >= catalog["launch"][:, None]) & (day[None, :] < catalog["discontinue"][:, None])
    present = alive[:, None, :] & ~closed[None, None, :] & ~(gaps & (day < config.days)[None, None, :])
    return _Skeleton(catalog, price, on_promo, mu, u, present)


def _catalog(config: SynthConfig, rng: np.random.Generator) -> dict:
    """Products, suppliers and each product's demand and price parameters."""
    n, cats = config.products, _CATEGORIES
    cat = rng.choice(len(cats), size=n, p=[c.weight for c in cats])
    cat[: min(n, len(cats))] = np.arange(min(n, len(cats)))  # every category present when possible
    col = {f: np.array([getattr(c, f) for c in cats]) for f in ("elasticity", "promo_rate", "cross")}
    u = rng.random((n, 12))

    n_sup = max(len(cats), math.ceil(n / 12))
    sup_cat = np.arange(n_sup) % len(cats)  # supplier k mainly serves category k % 5
    per_cat = np.bincount(sup_cat, minlength=len(cats))
    own = cat + len(cats) * np.floor(u[:, 0] * per_cat[cat]).astype(int)
    supplier = np.where(u[:, 1] < 0.85, own, np.floor(u[:, 2] * n_sup).astype(int))

    lo_p, hi_p = (np.array([c.price[i] for c in cats])[cat] for i in (0, 1))
    packaged = np.isin(cat, [_IDX["grocery"], _IDX["household"], _IDX["personal_care"]])
    pack = np.where(packaged, _PACK_SIZES[np.floor(u[:, 3] * len(_PACK_SIZES)).astype(int)], 1)
    base_price = np.round(np.exp(np.log(lo_p) + u[:, 4] * np.log(hi_p / lo_p)) * pack**0.8, 2)
    lo_l, hi_l = (np.array([c.level[i] for c in cats])[cat] for i in (0, 1))
    level = np.exp(np.log(lo_l) + u[:, 5] * np.log(hi_l / lo_l))
    sparse = u[:, 6] < 0.2  # intermittent products: mostly zeros
    level = np.where(sparse, 0.08 + 0.5 * u[:, 7], level)
    dispersion = np.where(sparse, 0.4 + 0.8 * u[:, 8], 4.0 + 11.0 * u[:, 8])

    # Launches fall between day 45 and 60% of the history, so every product has actuals to learn from.
    last_launch = int(0.6 * config.days)
    late = (u[:, 9] < np.where(cat == _ELECTRONICS, 0.35, 0.12)) & (last_launch > 45)
    late[0] = False  # the feed starts on `start` whatever the draws
    launch = np.where(late, 45 + np.floor(u[:, 10] * (last_launch - 45)).astype(int), 0)
    # Discontinued products stop at least 20 days before the last actual, so they have no plan rows.
    first_end, last_end = np.maximum(launch + 90, int(0.45 * config.days)), config.days - 20
    ends = (u[:, 11] < 0.08) & (first_end < last_end)
    stop = first_end + np.floor(u[:, 11] / 0.08 * (last_end - first_end)).astype(int)
    discontinue = np.where(ends, stop, config.days + config.horizon)

    item = np.array(
        [cats[c].items[int(k * len(cats[c].items))] for c, k in zip(cat, rng.random(n), strict=True)]
    )
    brand = np.array(
        [cats[c].brands[int(k * len(cats[c].brands))] for c, k in zip(cat, rng.random(n), strict=True)]
    )
    ids = [f"P{i + 1:04d}" for i in range(n)]
    sup_ids = [f"SUP{i + 1:02d}" for i in range(n_sup)]
    launch_dates = [(config.start + timedelta(days=int(d))).isoformat() for d in launch]
    products = pl.DataFrame(
        {
            "product_id": ids,
            "name": [
                f"{b} {i}" + (f" x{p}" if p > 1 else "") for b, i, p in zip(brand, item, pack, strict=True)
            ],
            "category": [cats[c].name for c in cat],
            "brand": brand,
            "supplier_id": [sup_ids[s] for s in supplier],
            "pack_size": pack,
            "is_electronics": cat == _ELECTRONICS,
            "launch_date": launch_dates,
        }
    ).with_columns(
        pl.struct("pack_size", "is_electronics", "launch_date").struct.json_encode().alias("attributes"),
        pl.lit(SOURCE).alias("source_file"),
        pl.int_range(1, n + 1).alias("source_line"),
    )
    countries = _COUNTRIES[rng.integers(0, len(_COUNTRIES), n_sup)]
    suppliers = pl.DataFrame(
        {
            "supplier_id": sup_ids,
            "name": [
                f"{cats[c].name.replace('_', ' ').title()} {kind} {i + 1}"
                for i, (c, kind) in enumerate(zip(sup_cat, itertools.cycle(_SUPPLIER_NAMES)))
            ],
            "country": countries,
            "source_file": SOURCE,
            "source_line": np.arange(1, n_sup + 1),
        }
    )
    return {
        "products": conform(products, RAW_PRODUCTS),
        "suppliers": conform(suppliers, RAW_SUPPLIERS),
        "ids": ids,
        "cat": cat,
        "supplier": supplier,
        "base_price": base_price,
        "level": level,
        "dispersion": dispersion,
        "launch": launch,
        "discontinue": discontinue,
        "trend": rng.normal(0.0, 0.12, n),
        "decay": 0.15 + 0.30 * rng.random(n),  # electronics: log price and demand decay per year of life
        "weekly_noise": rng.normal(0.0, 0.04, (n, 7)),
        "store_level": rng.lognormal(0.0, 0.35, config.stores),
        "affinity": rng.normal(0.0, 0.15, (n, config.stores)),
        **{k: v[cat] for k, v in col.items()},
    }


def _drift_choices(catalog: dict, rng: np.random.Generator) -> dict:
    """Who drifts, drawn whatever the drift setting so the streams never depend on it."""
    cat = catalog["cat"]
    present = np.unique(cat)
    category = present[int(rng.random() * len(present))]
    suppliers, counts = np.unique(catalog["supplier"][cat == category], return_counts=True)
    return {
        "products": rng.random(len(cat)) < DEMAND_DRIFT_SHARE,  # demand drift: part of the catalog
        "weekly": rng.normal(0.0, 0.25, 7),  # their new weekly pattern
        "category": category,  # price drift: the category whose price regime jumps
        "supplier": suppliers[np.argmax(counts)],  # and its main supplier, who raises all its prices
    }


def _prices(
    config: SynthConfig,
    catalog: dict,
    price_rng: np.random.Generator,
    promo_rng: np.random.Generator,
    dates: pl.Series,
    weekday: np.ndarray,
    day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regular price path, paid price, promotion flag and depth, each (products, days)."""
    n, n_days = config.products, day.size
    changes = price_rng.random((n, n_days)) < 1 / 150
    steps = price_rng.normal(0.03, 0.05, (n, n_days)) * changes
    log_regular = np.log(catalog["base_price"])[:, None] + np.cumsum(steps, axis=1)
    age = np.maximum(day[None, :] - catalog["launch"][:, None], 0) / 365.0
    electronics = (catalog["cat"] == _ELECTRONICS)[:, None]
    log_regular -= np.where(electronics, catalog["decay"][:, None] * age, 0.0)
    regular = np.round(np.exp(log_regular), 2)

    # A weekly promotion calendar (Monday to Sunday), plus Black Friday week for electronics/apparel.
    week = (day + weekday[0]) // 7
    n_weeks = week[-1] + 1
    promo_week = promo_rng.random((n, n_weeks)) < catalog["promo_rate"][:, None]
    lo, hi = (np.array([c.depth[i] for c in _CATEGORIES])[catalog["cat"]] for i in (0, 1))
    depth_week = lo[:, None] + (hi - lo)[:, None] * promo_rng.random((n, n_weeks))
    black_friday = promo_rng.random((n, n_weeks)) < 0.8
    bf_weeks = np.zeros(n_weeks, dtype=bool)
    years = np.unique(dates.dt.year().to_numpy())
    for year in years:  # one iteration per calendar year
        nov1 = date(int(year), 11, 1)
        friday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7 + 22)  # day after the 4th Thursday
        offset = (friday - config.start).days
        if 0 <= offset < n_days:
            bf_weeks[week[offset]] = True
    seasonal = (
        np.isin(catalog["cat"], [_ELECTRONICS, _IDX["apparel"]])[:, None] & bf_weeks[None, :] & black_friday
    )
    promo_week |= seasonal
    depth_week = np.where(seasonal, np.maximum(depth_week, hi[:, None]), depth_week)
    on_promo = promo_week[:, week]
    depth = np.where(on_promo, depth_week[:, week], 0.0)
    return regular, np.round(regular * (1 - depth), 2), on_promo, depth


def _demand(
    config: SynthConfig,
    catalog: dict,
    drift: dict,
    regular: np.ndarray,
    price: np.ndarray,
    on_promo: np.ndarray,
    depth: np.ndarray,
    weekday: np.ndarray,
    doy: np.ndarray,
    month: np.ndarray,
    dom: np.ndarray,
    after_drift: np.ndarray,
) -> np.ndarray:
    """Mean units per (product, store, day)."""
    cat, day = catalog["cat"], np.arange(weekday.size)
    weekly_cat = np.array([c.weekly for c in _CATEGORIES])[cat] + catalog["weekly_noise"]  # (P, 7)
    weekly = weekly_cat[:, weekday]
    amp = np.array([c.yearly_amp for c in _CATEGORIES])[cat]
    peak = np.array([c.yearly_peak for c in _CATEGORIES])[cat]
    yearly = amp[:, None] * np.cos(2 * np.pi * (doy[None, :] - peak[:, None]) / 365.25)
    pre_holiday = ((month == 12) & (dom >= 18) & (dom <= 24))[None, :] & np.isin(
        cat, [_IDX["grocery"], _ELECTRONICS]
    )[:, None]
    trend = catalog["trend"][:, None] * day[None, :] / 365.0

    # Cross-price: a product loses demand when its category's competitors cut prices.
    cat_total = np.zeros((len(_CATEGORIES), weekday.size))
    np.add.at(cat_total, cat, depth)
    rivals = np.maximum(np.bincount(cat, minlength=len(_CATEGORIES))[cat] - 1, 1)
    rival_discount = (cat_total[cat] - depth) / rivals[:, None]

    first_price = regular[np.arange(cat.size), np.minimum(catalog["launch"], day[-1])]
    age = np.maximum(day[None, :] - catalog["launch"][:, None], 0)
    life = (1 - np.exp(-(age + 1) / 20.0)) * np.exp(-catalog["decay"][:, None] * age / 365.0)
    electronics = (cat == _ELECTRONICS)[:, None]
    log_mu = (
        np.log(catalog["level"])[:, None]
        + weekly
        + yearly
        + 0.3 * pre_holiday
        + trend
        + catalog["elasticity"][:, None] * np.log(price / regular)
        + 0.15 * on_promo
        - catalog["cross"][:, None] * rival_discount
        - np.where(electronics, 0.0, 0.6 * np.log(regular / first_price[:, None]))
        + np.where(electronics, np.log(life), 0.0)
    )
    if config.drift_kind in ("demand", "both"):
        shifted = drift["products"][:, None] & after_drift[None, :]
        new_weekly = drift["weekly"][weekday][None, :] - weekly + weekly_cat.mean(axis=1)[:, None]
        log_mu = log_mu + np.where(shifted, np.log(DEMAND_DRIFT_FACTOR) + new_weekly, 0.0)
    store = np.log(catalog["store_level"])[None, :, None] + catalog["affinity"][:, :, None]
    return np.exp(log_mu[:, None, :] + store)


def _rows(
    config: SynthConfig,
    catalog: dict,
    present: np.ndarray,
    units: np.ndarray,
    price: np.ndarray,
    on_promo: np.ndarray,
    first_day: int = 0,
    first_line: int = 0,
) -> pl.DataFrame:
    """The observation rows sorted by date, product and store; units null on plan days. The arrays'
    days start `first_day` days after the feed's start, with `first_line` rows before them."""
    # (day, product, store) order makes np.nonzero return rows already in the contract's sort order.
    t, p, s = np.nonzero(present.transpose(2, 0, 1))
    stores = [f"S{i + 1:02d}" for i in range(config.stores)]
    epoch = (config.start - date(1970, 1, 1)).days + first_day
    df = pl.DataFrame(
        {
            "date": pl.Series(t + epoch, dtype=pl.Int32).cast(pl.Date),
            "product_id": pl.Series(catalog["ids"]).gather(p),
            "store_id": pl.Series(stores).gather(s),
            "price": price[p, t],
            "units_sold": units[p, s, t],
            "on_promo": on_promo[p, t],
            "source_line": np.arange(first_line + 1, first_line + t.size + 1),
        }
    ).with_columns(
        pl.when(pl.col("date") <= config.last_actual).then(pl.col("units_sold")).alias("units_sold"),
        pl.lit(None, pl.Float64).alias("sales_amount"),
        pl.lit(SOURCE).alias("source_file"),
    )
    return conform(df, RAW_OBSERVATIONS)
