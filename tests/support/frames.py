"""Marts-shaped synthetic frames for the feature and model tests (no dependency on the feeds).

`make_data` is small and deterministic: every test that needs sales, plans, a catalog and series rows
without running the graph builds them here, so their hand-checked expectations share one generator.
"""

import json
from datetime import date, timedelta

import numpy as np
import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.features.build import build_features
from platform_assets.features.config import FeatureConfig


def _dates(freq: str, n: int) -> list[date]:
    if freq == "D":
        return [date(2024, 1, 1) + timedelta(days=i) for i in range(n)]
    if freq == "W":
        return [date(2022, 1, 3) + timedelta(weeks=i) for i in range(n)]
    return [date(2016 + i // 12, i % 12 + 1, 1) for i in range(n)]


def make_data(
    n_products: int = 12,
    n_stores: int = 2,
    periods: int = 240,
    horizon: int = 7,
    freq: str = "D",
    seed: int = 0,
) -> dict[str, pl.DataFrame]:
    """Marts-shaped frames: weekly/yearly seasonality, promotions that cut price and lift demand,
    cross-price effects, a price change, intermittent and late-starting series, missing observations,
    a discontinued series, a series with 3 periods of history and a new product with none."""
    rng = np.random.default_rng(seed)
    season = {"D": 7, "W": 52, "M": 12}[freq]
    all_dates = _dates(freq, periods + horizon)
    t = np.arange(periods + horizon)
    products = [f"p{i:02d}" for i in range(n_products)]
    stores = [f"s{j}" for j in range(n_stores)]
    category = {p: f"cat{i % 3}" for i, p in enumerate(products)}

    base_price = rng.uniform(2, 50, n_products)
    change_at = rng.integers(periods // 3, periods, n_products)
    promo = rng.random((n_products, periods + horizon)) < 0.08
    price = (
        base_price[:, None]
        * np.where(t[None, :] >= change_at[:, None], 1.15, 1.0)
        * np.where(promo, 0.8, 1.0)
    )
    cats = np.array([i % 3 for i in range(n_products)])
    cat_mean = np.stack([price[cats == c].mean(axis=0) for c in range(3)])[cats]
    weekly = np.array([0.8, 0.9, 0.9, 1.0, 1.2, 1.4, 1.1])[t % 7] if freq == "D" else 1.0
    yearly = 1 + 0.3 * np.sin(2 * np.pi * t / (365.25 if freq == "D" else season))
    rows = []
    for i, p in enumerate(products):
        for j, s in enumerate(stores):
            level = 0.2 if i == 0 else float(np.exp(rng.normal(1.2, 0.8)))
            start = 0 if rng.random() < 0.75 else int(rng.integers(1, periods * 0.6))
            if (i, j) == (n_products - 1, n_stores - 1):
                start = periods - 3
            mean = (
                level
                * weekly
                * yearly
                * (price[i] / base_price[i]) ** -2.0
                * (price[i] / cat_mean[i]) ** -1.5
            )
            units = rng.poisson(mean * rng.gamma(8, 1 / 8, periods + horizon)).astype(float)
            observed = rng.random(periods + horizon) > 0.03
            observed[start] = True
            if (i, j) == (1, 0):
                observed[periods - 40 :] = False
            for k in range(start, periods):
                rows.append(
                    (
                        p,
                        s,
                        all_dates[k],
                        units[k] if observed[k] else 0.0,
                        float(price[i, k]),
                        bool(promo[i, k]),
                        bool(observed[k]),
                    )
                )
    sales = pl.DataFrame(
        rows,
        schema={
            "product_id": pl.String,
            "store_id": pl.String,
            "period_date": pl.Date,
            "units_sold": pl.Float64,
            "price": pl.Float64,
            "on_promo": pl.Boolean,
            "is_observed": pl.Boolean,
        },
        orient="row",
    ).with_columns(  # the mart carries the last observed price forward; no period is missing here
        pl.when("is_observed").then("price").forward_fill().over(KEYS).alias("price"),
        pl.lit(False).alias("is_missing"),
    )
    plans = pl.DataFrame(
        [
            (p, s, all_dates[k], float(price[i, k]), bool(promo[i, k]))
            for i, p in enumerate(products)
            if i % 4 != 3
            for s in stores
            for k in range(periods, periods + horizon)
        ],
        schema={
            "product_id": pl.String,
            "store_id": pl.String,
            "period_date": pl.Date,
            "price": pl.Float64,
            "on_promo": pl.Boolean,
        },
        orient="row",
    )
    catalog = pl.DataFrame(
        {
            "product_id": [*products, "p_new"],
            "name": [f"product {p}" for p in [*products, "p_new"]],
            "category": [*(category[p] for p in products), "cat0"],
            "brand": [f"b{i % 4}" for i in range(n_products + 1)],
            "supplier_id": [f"sup{i % 2}" for i in range(n_products + 1)],
            "attributes": [
                json.dumps({"weight_kg": round(0.1 * i, 1), "color": "red"} if i % 5 else {"color": "blue"})
                for i in range(n_products + 1)
            ],
        }
    )
    last = sales["period_date"].max()
    series = (
        sales.group_by(KEYS)
        .agg(
            first_date=pl.col("period_date").min(),
            last_actual_date=pl.col("period_date").filter("is_observed").max(),
            n_observed=pl.col("is_observed").sum(),
        )
        .join(catalog.select("product_id", "category"), on="product_id")
        .with_columns(
            is_active=pl.col("last_actual_date")
            >= last - timedelta(days=28 * {"D": 1, "W": 7, "M": 30}[freq])
        )
    )
    new = pl.DataFrame(
        {
            "product_id": ["p_new"],
            "store_id": [stores[0]],
            "first_date": [None],
            "last_actual_date": [None],
            "n_observed": [0],
            "category": ["cat0"],
            "is_active": [True],
        },
        schema=series.schema,
    )
    series = (
        pl.concat([series, new])
        .select(*KEYS, "category", "first_date", "last_actual_date", "n_observed", "is_active")
        .sort(KEYS)
    )
    return {
        "sales": sales.sort([*KEYS, "period_date"]),
        "products": catalog,
        "plans": plans,
        "series": series,
    }


def features_for(data: dict[str, pl.DataFrame], cfg: FeatureConfig) -> pl.DataFrame:
    """`build_features` on `make_data`'s frames, as the features asset calls it on the marts."""
    return build_features(data["sales"], data["products"], data["plans"], data["series"], cfg)


def chunkable(data: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`data` plus what chunks must get right: a product without a category and one missing from the
    catalog (one peer group: category null), and a category whose one series has no sales yet."""
    products = data["products"]
    lone = products.filter(pl.col("product_id") == "p_new").with_columns(
        product_id=pl.lit("p_lone"), category=pl.lit("cat9")
    )
    products = pl.concat([products.filter(pl.col("product_id") != "p05"), lone]).with_columns(
        pl.when(pl.col("product_id") == "p04").then(None).otherwise("category").alias("category")
    )
    series = data["series"]
    new = series.filter(pl.col("product_id") == "p_new").with_columns(product_id=pl.lit("p_lone"))
    return {**data, "products": products, "series": pl.concat([series, new]).sort(KEYS)}


def training_history(horizon: int = 7) -> pl.DataFrame:
    """`make_data`'s feature rows that have an actual: what training reads."""
    frame = features_for(make_data(horizon=horizon), FeatureConfig(horizon=horizon))
    return frame.filter(~pl.col("is_future"))


def forecast_rows(model, frame: pl.DataFrame) -> pl.DataFrame:
    """The future rows as forecasting gives them to the model: with their horizon and the origin
    features read at the last actual period."""
    future = frame.filter("is_future").with_columns(
        pl.col("period_date").rank("dense").cast(pl.Int32).alias("horizon")
    )
    actuals = frame.filter(~pl.col("is_future")).select(*KEYS, "period_date", "y")
    return model.with_origin_features(future, actuals)


def forecasting_frames_for(data: dict[str, pl.DataFrame], cfg: FeatureConfig) -> dict[str, pl.DataFrame]:
    """What `modeling.rows.forecasting_frames` reads from the warehouse, from `make_data`'s frames."""
    from platform_assets.features.calendar import EVENT_SCHEMA
    from platform_assets.features.incremental import carry_in, lookback_start

    frame = features_for(data, cfg)
    inference = frame.filter("is_future")
    start = lookback_start(inference["period_date"].min(), cfg)
    return {
        **data,
        "inference": inference,
        "sales": data["sales"].filter(pl.col("period_date") >= start),
        "carry": carry_in(data["sales"], start),
        "events": pl.DataFrame(schema=EVENT_SCHEMA),
        "history": frame.filter(~pl.col("is_future")).select(*KEYS, "period_date", "y"),
    }
