"""Feature engineering: shapes, hand-checked values and the point-in-time guarantee.

`make_data` is the small deterministic generator the ML tests share (no dependency on the feeds).
"""

import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from platform_assets.features.attributes import numeric_attributes
from platform_assets.features.build import build_features
from platform_assets.features.chunks import Chunk, category_chunks
from platform_assets.features.columns import feature_columns
from platform_assets.features.config import FeatureConfig
from platform_assets.features.exact import common_factors, exact_factors, factor_candidates

KEYS = ["product_id", "store_id"]


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
    ).with_columns(  # the mart carries the last observed price forward
        pl.when("is_observed").then("price").forward_fill().over(KEYS).alias("price")
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
    return build_features(data["sales"], data["products"], data["plans"], data["series"], cfg)


@pytest.fixture(scope="module")
def daily() -> dict[str, pl.DataFrame]:
    return make_data()


def test_one_row_per_period_plus_horizon_future_rows(daily):
    cfg = FeatureConfig(horizon=7)
    frame = features_for(daily, cfg)
    sales, n_series = daily["sales"], daily["series"].height
    assert frame.filter(~pl.col("is_future")).height == sales.height
    future = frame.filter("is_future")
    assert future.height == n_series * 7
    assert future["y"].null_count() == future.height
    last = sales["period_date"].max()
    assert future["period_date"].unique().sort().to_list() == [last + timedelta(days=h) for h in range(1, 8)]
    assert frame.select(*KEYS, "period_date").is_unique().all()
    names, categorical = feature_columns(cfg, frame.columns)
    assert set(names) <= set(frame.columns) and set(categorical) <= set(names)
    assert "attr_weight_kg" in names and not any("color" in n for n in names)


def test_future_prices_come_from_plans_else_last_price(daily):
    frame = features_for(daily, FeatureConfig(horizon=7))
    future = frame.filter("is_future").join(
        daily["plans"].rename({"price": "plan_price", "on_promo": "plan_promo"}),
        on=[*KEYS, "period_date"],
        how="left",
    )
    planned = future.filter(pl.col("plan_price").is_not_null())
    assert planned.height > 0
    assert (planned["price"] == planned["plan_price"].cast(pl.Float32)).all()
    assert (planned["on_promo"] == planned["plan_promo"]).all()
    last_price = daily["sales"].group_by(KEYS).agg(pl.col("price").last().alias("last_price"))
    unplanned = future.filter(pl.col("plan_price").is_null()).join(last_price, on=KEYS)
    assert unplanned.height > 0 and not unplanned["on_promo"].any()
    assert (unplanned["price"] == unplanned["last_price"].cast(pl.Float32)).all()


def test_target_features_match_hand_computation(daily):
    h, cfg = 7, FeatureConfig(horizon=7)
    frame = features_for(daily, cfg).filter(~pl.col("is_future"))
    key = ("p02", "s1")
    one = frame.filter((pl.col("product_id") == key[0]) & (pl.col("store_id") == key[1]))
    y = (
        daily["sales"]
        .filter((pl.col("product_id") == key[0]) & (pl.col("store_id") == key[1]))["units_sold"]
        .to_numpy()
    )
    t = 60
    scale = max(np.abs(y[t - h - 27 : t - h + 1]).mean(), 1 / 28)
    row = one.row(t, named=True)
    assert row["scale"] == pytest.approx(scale)
    assert row["lag_7"] == pytest.approx(y[t - 7] / scale, rel=1e-6)
    assert row["lag_13"] == pytest.approx(y[t - 13] / scale, rel=1e-6)
    assert row["slag_14"] == pytest.approx(y[t - 14] / scale, rel=1e-6)
    assert row["roll_mean_7"] == pytest.approx(y[t - h - 6 : t - h + 1].mean() / scale, rel=1e-6)
    assert row["roll_max_28"] == pytest.approx(y[t - h - 27 : t - h + 1].max() / scale, rel=1e-6)
    assert row["zero_share_28"] == pytest.approx((y[t - h - 27 : t - h + 1] == 0).mean(), rel=1e-6)
    assert row["periods_since_start"] == t
    assert one["lag_7"][:h].null_count() == h and one["scale"][:h].null_count() == h
    assert row["day_of_week"] == row["period_date"].isoweekday()


def test_category_covariates(daily):
    frame = features_for(daily, FeatureConfig(horizon=7)).filter(~pl.col("is_future"))
    day = daily["sales"]["period_date"].max()
    sales = (
        daily["sales"]
        .filter(pl.col("period_date") == day)
        .join(daily["products"].select("product_id", "category"), on="product_id")
    )
    row = frame.filter(
        (pl.col("product_id") == "p03") & (pl.col("store_id") == "s0") & (pl.col("period_date") == day)
    )
    peers = sales.filter((pl.col("category") == "cat0") & (pl.col("store_id") == "s0"))
    own = peers.filter(pl.col("product_id") == "p03")
    assert row["price_rel_category"][0] == pytest.approx(own["price"][0] / peers["price"].mean(), rel=1e-6)
    others = int(peers["on_promo"].sum()) - int(own["on_promo"][0])
    assert row["category_promo_others"][0] == others


def test_point_in_time_perturbing_the_future_leaves_past_rows_identical(daily):
    cfg = FeatureConfig(horizon=7)
    cutoff = daily["sales"]["period_date"].max() - timedelta(days=30)
    rng = np.random.default_rng(1)
    sales = daily["sales"]
    after = pl.col("period_date") > cutoff
    noise = pl.Series(rng.uniform(0.5, 3.0, sales.height))
    perturbed = dict(daily)
    perturbed["sales"] = sales.with_columns(
        pl.when(after).then(pl.col("units_sold") * noise + 1).otherwise("units_sold").alias("units_sold"),
        pl.when(after).then(pl.col("price") * noise).otherwise("price").alias("price"),
        pl.when(after).then(~pl.col("on_promo")).otherwise("on_promo").alias("on_promo"),
        pl.when(after).then(~pl.col("is_observed")).otherwise("is_observed").alias("is_observed"),
    )
    perturbed["plans"] = daily["plans"].with_columns(pl.col("price") * 3, ~pl.col("on_promo"))
    base = features_for(daily, cfg)
    moved = features_for(perturbed, cfg)
    past = pl.col("period_date") <= cutoff
    assert base.filter(past).equals(moved.filter(past))  # bit-identical, nulls included
    assert not base.filter(~past).equals(moved.filter(~past))  # the perturbation did change something
    for target in ("price",):
        cfg_p = FeatureConfig(target=target, horizon=7)
        assert features_for(daily, cfg_p).filter(past).equals(features_for(perturbed, cfg_p).filter(past))


def test_target_features_only_see_values_at_least_h_periods_old(daily):
    """Changing sales after a cut-off c leaves every row dated <= c + H identical except its own y:
    a forecast for t is made at t - H at the latest."""
    h, cfg = 7, FeatureConfig(horizon=7)
    cutoff = daily["sales"]["period_date"].max() - timedelta(days=30)
    after = pl.col("period_date") > cutoff
    moved = dict(daily)
    moved["sales"] = daily["sales"].with_columns(
        pl.when(after).then(pl.col("units_sold") * 2 + 3).otherwise("units_sold").alias("units_sold"),
        pl.when(after).then(~pl.col("is_observed")).otherwise("is_observed").alias("is_observed"),
    )
    within = pl.col("period_date") <= cutoff + timedelta(days=h)
    base, changed = features_for(daily, cfg).filter(within), features_for(moved, cfg).filter(within)
    assert not base["y"].equals(changed["y"])
    assert base.drop("y").equals(changed.drop("y"))
    beyond = pl.col("period_date") == cutoff + timedelta(days=h + 1)
    assert not features_for(daily, cfg).filter(beyond).equals(features_for(moved, cfg).filter(beyond))


@pytest.mark.parametrize("freq", ["W", "M"])
def test_weekly_and_monthly_grids(freq):
    data = make_data(n_products=4, n_stores=1, periods=80, horizon=4, freq=freq)
    cfg = FeatureConfig(horizon=4, freq=freq)
    frame = features_for(data, cfg)
    future = frame.filter("is_future")["period_date"].unique().sort().to_list()
    last = data["sales"]["period_date"].max()
    if freq == "W":
        assert future == [last + timedelta(weeks=h) for h in range(1, 5)]
    else:
        assert [d.month for d in future] == [(last.month + h - 1) % 12 + 1 for h in range(1, 5)]
        assert all(d.day == 1 for d in future)
    names, _ = feature_columns(cfg, frame.columns)
    assert f"slag_{cfg.seasonal_lags[0]}" in names and "day_of_week" not in names


def test_incomplete_grid_is_rejected(daily):
    holey = dict(daily)
    holey["sales"] = daily["sales"].filter(
        pl.col("period_date") != daily["sales"]["period_date"].max() - timedelta(days=5)
    )
    with pytest.raises(ValueError, match="complete period grid"):
        features_for(holey, FeatureConfig(horizon=7))


def test_price_target_leaves_out_price_covariates():
    names, _ = feature_columns(FeatureConfig(target="price"), [])
    assert "price" not in names and "price_rel_category" not in names and "on_promo" in names


def test_numeric_attributes_keep_only_numbers():
    products = pl.DataFrame(
        {
            "product_id": ["a", "b", "c"],
            "attributes": ['{"w": 1, "s": "x", "flag": true}', None, '{"w": 2.5, "s": 3}'],
        }
    )
    attrs = numeric_attributes(products)
    assert attrs.columns == ["product_id", "attr_w"]
    assert attrs["attr_w"].to_list() == [1.0, None, 2.5]


def test_category_chunks_pack_whole_peer_groups():
    products = pl.DataFrame({"product_id": ["a", "b", "c", "d"], "category": ["x", "x", "y", None]})
    rows = pl.DataFrame(
        {
            "product_id": ["a", "b", "a", "b", "c", "d", "e", "c"],  # e: not in the catalog
            "store_id": ["s1", "s1", "s2", "s2", "s1", "s1", "s2", "s1"],
            "n": [15, 15, 20, 10, 10, 5, 5, 0],
        }
    )
    assert category_chunks(products, rows, 100) == [Chunk(("x", "y", None))]
    # x (60 rows) is split by store; y and the products without a category (with e) share a chunk
    assert category_chunks(products, rows, 40) == [
        Chunk(("x",), ("s1",)),
        Chunk(("x",), ("s2",)),
        Chunk(("y", None)),
    ]
    assert category_chunks(products, rows, 15)[2:] == [Chunk(("y",)), Chunk((None,))]
    assert category_chunks(products, rows.clear(), 15) == []


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


@pytest.mark.parametrize("cents", [False, True], ids=["any-prices", "cent-prices"])
@pytest.mark.parametrize("max_rows", [0, 1000, 2500, 10**9])
def test_a_build_in_chunks_of_peer_groups_equals_the_whole_build(daily, max_rows, cents):
    """What the features asset's full build does: chunks of whole peer groups, the factors of all the
    sales and their last period; the rows are the whole build's to the bit (any prices: window sums
    round; cents: exact)."""
    data = chunkable(daily)
    if cents:
        for name in ("sales", "plans"):
            data[name] = data[name].with_columns(
                pl.Series("price", np.round(data[name]["price"].to_numpy(), 2))
            )
    cfg = FeatureConfig(horizon=7)
    whole = features_for(data, cfg)
    rows = pl.concat(
        [
            data["sales"].group_by(KEYS).agg(n=pl.len().cast(pl.Int64)),
            data["series"].select(*KEYS, n=pl.lit(0, pl.Int64)),
        ]
    )
    chunks = category_chunks(data["products"], rows, max_rows)
    parts = [
        [c.select(data[name], data["products"]) for name in ("sales", "plans", "series")] for c in chunks
    ]
    factors = common_factors(factor_candidates(sales, cfg) for sales, _, _ in parts)
    assert factors == exact_factors(data["sales"], cfg) == {"y": 1, "price": 100 if cents else None}
    last = data["sales"]["period_date"].max()
    built = [
        build_features(sales, data["products"], plans, series, cfg, factors, last)
        for sales, plans, series in parts
    ]
    assert pl.concat(built).sort([*KEYS, "period_date"]).equals(whole)
    if max_rows == 0:  # every peer group alone, cat9 too: a chunk with no sales rows
        assert len(chunks) == 9 and Chunk(("cat9",)) in chunks
    if max_rows == 1000:
        assert len(chunks) >= 3 and any(c.stores for c in chunks)
