"""Synthetic demand: the mean units of each product, store and day (see the package docstring)."""

import numpy as np

from platform_assets.feeds.synthetic.categories import CATEGORIES, ELECTRONICS, INDEX
from platform_assets.feeds.synthetic.config import SynthConfig
from platform_assets.feeds.synthetic.drift import drift_demand


def mean_demand(
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
    weekly_cat = np.array([c.weekly for c in CATEGORIES])[cat] + catalog["weekly_noise"]  # (P, 7)
    weekly = weekly_cat[:, weekday]
    amp = np.array([c.yearly_amp for c in CATEGORIES])[cat]
    peak = np.array([c.yearly_peak for c in CATEGORIES])[cat]
    yearly = amp[:, None] * np.cos(2 * np.pi * (doy[None, :] - peak[:, None]) / 365.25)
    pre_holiday = ((month == 12) & (dom >= 18) & (dom <= 24))[None, :] & np.isin(
        cat, [INDEX["grocery"], ELECTRONICS]
    )[:, None]
    trend = catalog["trend"][:, None] * day[None, :] / 365.0

    first_price = regular[np.arange(cat.size), np.minimum(catalog["launch"], day[-1])]
    age = np.maximum(day[None, :] - catalog["launch"][:, None], 0)
    life = (1 - np.exp(-(age + 1) / 20.0)) * np.exp(-catalog["decay"][:, None] * age / 365.0)
    electronics = (cat == ELECTRONICS)[:, None]
    log_mu = (
        np.log(catalog["level"])[:, None]
        + weekly
        + yearly
        + 0.3 * pre_holiday
        + trend
        + catalog["elasticity"][:, None] * np.log(price / regular)
        + 0.15 * on_promo
        - catalog["cross"][:, None] * _rival_discount(cat, depth)
        - np.where(electronics, 0.0, 0.6 * np.log(regular / first_price[:, None]))
        + np.where(electronics, np.log(life), 0.0)
    )
    log_mu = drift_demand(config.drift_kind, drift, after_drift, log_mu, weekly, weekly_cat, weekday)
    store = np.log(catalog["store_level"])[None, :, None] + catalog["affinity"][:, :, None]
    return np.exp(log_mu[:, None, :] + store)


def _rival_discount(cat: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Cross-price: the average discount of each product's competitors in its category, per day."""
    cat_total = np.zeros((len(CATEGORIES), depth.shape[1]))
    np.add.at(cat_total, cat, depth)
    rivals = np.maximum(np.bincount(cat, minlength=len(CATEGORIES))[cat] - 1, 1)
    return (cat_total[cat] - depth) / rivals[:, None]
