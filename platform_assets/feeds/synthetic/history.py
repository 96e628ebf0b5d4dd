"""The generated history: a skeleton per configuration (everything but the units), and the observation
rows of any window drawn from it exactly as the whole history has them."""

import functools
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from platform_assets.core.schemas import RAW_OBSERVATIONS, conform
from platform_assets.feeds.synthetic.catalog import SOURCE, generate_catalog
from platform_assets.feeds.synthetic.config import SynthConfig
from platform_assets.feeds.synthetic.demand import mean_demand
from platform_assets.feeds.synthetic.drift import drift_choices, drift_prices
from platform_assets.feeds.synthetic.prices import price_paths

_CLOSED = ((12, 25), (1, 1))  # (month, day) the stores are closed: no rows at all
_MISSING_RATE = 0.015  # share of actual product-store-days with no row (feed gaps)


@dataclass(frozen=True)
class Skeleton:
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
    sk = skeleton(config)
    end = config.start + timedelta(days=sk.present.shape[2])
    return sk.catalog["products"], sk.catalog["suppliers"], observations(config, config.start, end)


generate.cache_clear = lambda: skeleton.cache_clear()  # regenerate for real (tests)


def observations(config: SynthConfig, start: date, end: date) -> pl.DataFrame:
    """The observation rows dated start <= date < end, exactly as in the whole history."""
    from scipy import stats  # imported here: 1.5 s that loading the code location should not pay

    sk = skeleton(config)
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
def skeleton(config: SynthConfig) -> Skeleton:
    """The configuration's catalog, prices, demand means, uniforms and row mask, cached: every asset
    asks for them."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    cat_rng, price_rng, promo_rng, noise_rng, gap_rng, drift_rng = rngs
    catalog = generate_catalog(config, cat_rng)
    n_days = config.days + config.horizon
    day = np.arange(n_days)
    calendar = pl.select(pl.date_range(config.start, config.start + timedelta(days=n_days - 1), "1d"))
    dates = calendar.to_series()
    weekday = dates.dt.weekday().to_numpy() - 1  # Monday = 0
    doy = dates.dt.ordinal_day().to_numpy()
    month, dom = dates.dt.month().to_numpy(), dates.dt.day().to_numpy()
    drift_day = n_days if config.drift_from is None else max(0, (config.drift_from - config.start).days)
    after_drift = day >= drift_day
    drift = drift_choices(catalog, drift_rng)

    regular, price, on_promo, depth = price_paths(config, catalog, price_rng, promo_rng, dates, weekday, day)
    regular, price = drift_prices(config.drift_kind, catalog, drift, after_drift, regular, price)
    mu = mean_demand(
        config, catalog, drift, regular, price, on_promo, depth, weekday, doy, month, dom, after_drift
    )
    u = np.clip(noise_rng.random(mu.shape), 1e-12, 1 - 1e-12)
    present = _present(config, catalog, gap_rng.random(mu.shape) < _MISSING_RATE, month, dom)
    return Skeleton(catalog, price, on_promo, mu, u, present)


def _present(
    config: SynthConfig, catalog: dict, gaps: np.ndarray, month: np.ndarray, dom: np.ndarray
) -> np.ndarray:
    """Which (product, store, day) has a row: the product is on sale, the store open, the feed no gap
    (plan days have no gaps)."""
    day = np.arange(month.size)
    closed = np.zeros(month.size, dtype=bool)
    for m, d in _CLOSED:
        closed |= (month == m) & (dom == d)
    alive = (day[None, :] >= catalog["launch"][:, None]) & (day[None, :] < catalog["discontinue"][:, None])
    return alive[:, None, :] & ~closed[None, None, :] & ~(gaps & (day < config.days)[None, None, :])


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
