"""The synthetic catalog: products, suppliers, and each product's price, demand and life-cycle parameters.

Every draw comes from the one catalog stream in a fixed order, so a seed always gives the same catalog.
"""

import itertools
import math
from datetime import timedelta

import numpy as np
import polars as pl

from platform_assets.core.schemas import RAW_PRODUCTS, RAW_SUPPLIERS, conform
from platform_assets.feeds.synthetic.categories import CATEGORIES, ELECTRONICS, INDEX
from platform_assets.feeds.synthetic.config import SynthConfig

SOURCE = "synthetic"  # the source_file of every synthetic row
_PACK_SIZES = np.array([1, 1, 1, 2, 4, 6])
_SUPPLIER_NAMES = ("Trading", "Wholesale", "Distribution", "Imports", "Supply", "Partners")
_COUNTRIES = np.array(["DE", "NL", "CN", "US", "VN", "PL", "IT", "TW"])


def generate_catalog(config: SynthConfig, rng: np.random.Generator) -> dict:
    """Products, suppliers and each product's demand and price parameters."""
    n, cats = config.products, CATEGORIES
    cat = rng.choice(len(cats), size=n, p=[c.weight for c in cats])
    cat[: min(n, len(cats))] = np.arange(min(n, len(cats)))  # every category present when possible
    col = {f: np.array([getattr(c, f) for c in cats]) for f in ("elasticity", "promo_rate", "cross")}
    u = rng.random((n, 12))

    n_sup = max(len(cats), math.ceil(n / 12))
    sup_cat = np.arange(n_sup) % len(cats)  # supplier k mainly serves category k % 5
    supplier = _main_supplier(cat, sup_cat, u)
    pack, base_price, level, dispersion = _economics(cat, u)
    launch, discontinue = _life_cycle(config, cat, u)
    item = _pick(cat, "items", rng.random(n))
    brand = _pick(cat, "brands", rng.random(n))

    ids = [f"P{i + 1:04d}" for i in range(n)]
    sup_ids = [f"SUP{i + 1:02d}" for i in range(n_sup)]
    products = _products(config, ids, cat, brand, item, pack, [sup_ids[s] for s in supplier], launch)
    suppliers = _suppliers(sup_ids, sup_cat, _COUNTRIES[rng.integers(0, len(_COUNTRIES), n_sup)])
    return {
        "products": products,
        "suppliers": suppliers,
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


def _main_supplier(cat: np.ndarray, sup_cat: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each product's supplier: mostly one serving its category, sometimes any."""
    per_cat = np.bincount(sup_cat, minlength=len(CATEGORIES))
    own = cat + len(CATEGORIES) * np.floor(u[:, 0] * per_cat[cat]).astype(int)
    return np.where(u[:, 1] < 0.85, own, np.floor(u[:, 2] * sup_cat.size).astype(int))


def _economics(cat: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pack size, base price, demand level and dispersion of each product."""
    cats = CATEGORIES
    lo_p, hi_p = (np.array([c.price[i] for c in cats])[cat] for i in (0, 1))
    packaged = np.isin(cat, [INDEX["grocery"], INDEX["household"], INDEX["personal_care"]])
    pack = np.where(packaged, _PACK_SIZES[np.floor(u[:, 3] * len(_PACK_SIZES)).astype(int)], 1)
    base_price = np.round(np.exp(np.log(lo_p) + u[:, 4] * np.log(hi_p / lo_p)) * pack**0.8, 2)
    lo_l, hi_l = (np.array([c.level[i] for c in cats])[cat] for i in (0, 1))
    level = np.exp(np.log(lo_l) + u[:, 5] * np.log(hi_l / lo_l))
    sparse = u[:, 6] < 0.2  # intermittent products: mostly zeros
    level = np.where(sparse, 0.08 + 0.5 * u[:, 7], level)
    dispersion = np.where(sparse, 0.4 + 0.8 * u[:, 8], 4.0 + 11.0 * u[:, 8])
    return pack, base_price, level, dispersion


def _life_cycle(config: SynthConfig, cat: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Launch and discontinuation day of each product (days after `start`)."""
    # Launches fall between day 45 and 60% of the history, so every product has actuals to learn from.
    last_launch = int(0.6 * config.days)
    late = (u[:, 9] < np.where(cat == ELECTRONICS, 0.35, 0.12)) & (last_launch > 45)
    late[0] = False  # the feed starts on `start` whatever the draws
    launch = np.where(late, 45 + np.floor(u[:, 10] * (last_launch - 45)).astype(int), 0)
    # Discontinued products stop at least 20 days before the last actual, so they have no plan rows.
    first_end, last_end = np.maximum(launch + 90, int(0.45 * config.days)), config.days - 20
    ends = (u[:, 11] < 0.08) & (first_end < last_end)
    stop = first_end + np.floor(u[:, 11] / 0.08 * (last_end - first_end)).astype(int)
    discontinue = np.where(ends, stop, config.days + config.horizon)
    return launch, discontinue


def _pick(cat: np.ndarray, field: str, draws: np.ndarray) -> np.ndarray:
    """One of the category's item names (or brands) per product, chosen by a uniform draw."""
    choices = [getattr(c, field) for c in CATEGORIES]
    return np.array([choices[c][int(k * len(choices[c]))] for c, k in zip(cat, draws, strict=True)])


def _products(
    config: SynthConfig,
    ids: list[str],
    cat: np.ndarray,
    brand: np.ndarray,
    item: np.ndarray,
    pack: np.ndarray,
    supplier_ids: list[str],
    launch: np.ndarray,
) -> pl.DataFrame:
    """The RAW_PRODUCTS rows; pack size, electronics flag and launch date go to the attributes JSON."""
    launch_dates = [(config.start + timedelta(days=int(d))).isoformat() for d in launch]
    products = pl.DataFrame(
        {
            "product_id": ids,
            "name": [
                f"{b} {i}" + (f" x{p}" if p > 1 else "") for b, i, p in zip(brand, item, pack, strict=True)
            ],
            "category": [CATEGORIES[c].name for c in cat],
            "brand": brand,
            "supplier_id": supplier_ids,
            "pack_size": pack,
            "is_electronics": cat == ELECTRONICS,
            "launch_date": launch_dates,
        }
    ).with_columns(
        pl.struct("pack_size", "is_electronics", "launch_date").struct.json_encode().alias("attributes"),
        pl.lit(SOURCE).alias("source_file"),
        pl.int_range(1, len(ids) + 1).alias("source_line"),
    )
    return conform(products, RAW_PRODUCTS)


def _suppliers(sup_ids: list[str], sup_cat: np.ndarray, countries: np.ndarray) -> pl.DataFrame:
    """The RAW_SUPPLIERS rows, named after the category each one mainly serves."""
    suppliers = pl.DataFrame(
        {
            "supplier_id": sup_ids,
            "name": [
                f"{CATEGORIES[c].name.replace('_', ' ').title()} {kind} {i + 1}"
                for i, (c, kind) in enumerate(zip(sup_cat, itertools.cycle(_SUPPLIER_NAMES)))
            ],
            "country": countries,
            "source_file": SOURCE,
            "source_line": np.arange(1, len(sup_ids) + 1),
        }
    )
    return conform(suppliers, RAW_SUPPLIERS)
