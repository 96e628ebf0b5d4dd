"""Synthetic prices: a regular price path per product, a weekly promotion calendar, the price paid."""

from datetime import date, timedelta

import numpy as np
import polars as pl

from platform_assets.feeds.synthetic.categories import CATEGORIES, ELECTRONICS, INDEX
from platform_assets.feeds.synthetic.config import SynthConfig


def price_paths(
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
    electronics = (catalog["cat"] == ELECTRONICS)[:, None]
    log_regular -= np.where(electronics, catalog["decay"][:, None] * age, 0.0)
    regular = np.round(np.exp(log_regular), 2)

    # A weekly promotion calendar (Monday to Sunday), plus Black Friday week for electronics/apparel.
    week = (day + weekday[0]) // 7
    n_weeks = week[-1] + 1
    promo_week = promo_rng.random((n, n_weeks)) < catalog["promo_rate"][:, None]
    lo, hi = (np.array([c.depth[i] for c in CATEGORIES])[catalog["cat"]] for i in (0, 1))
    depth_week = lo[:, None] + (hi - lo)[:, None] * promo_rng.random((n, n_weeks))
    black_friday = promo_rng.random((n, n_weeks)) < 0.8
    bf_weeks = _black_friday_weeks(config, dates, week)
    seasonal = (
        np.isin(catalog["cat"], [ELECTRONICS, INDEX["apparel"]])[:, None] & bf_weeks[None, :] & black_friday
    )
    promo_week |= seasonal
    depth_week = np.where(seasonal, np.maximum(depth_week, hi[:, None]), depth_week)
    on_promo = promo_week[:, week]
    depth = np.where(on_promo, depth_week[:, week], 0.0)
    return regular, np.round(regular * (1 - depth), 2), on_promo, depth


def _black_friday_weeks(config: SynthConfig, dates: pl.Series, week: np.ndarray) -> np.ndarray:
    """Which weeks of the calendar hold a Black Friday (the day after the 4th Thursday of November)."""
    n_days = week.size
    bf_weeks = np.zeros(week[-1] + 1, dtype=bool)
    years = np.unique(dates.dt.year().to_numpy())
    for year in years:  # one iteration per calendar year
        nov1 = date(int(year), 11, 1)
        friday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7 + 22)
        offset = (friday - config.start).days
        if 0 <= offset < n_days:
            bf_weeks[week[offset]] = True
    return bf_weeks
