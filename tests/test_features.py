"""Feature engineering: shapes, hand-checked values and the point-in-time guarantee, on the small
deterministic generator the ML tests share (tests/support/frames.py)."""

from datetime import date, timedelta

import holidays
import numpy as np
import polars as pl
import pytest

from platform_assets.core.periods import offset_periods, period_of
from platform_assets.features.attributes import numeric_attributes
from platform_assets.features.build import build_features
from platform_assets.features.calendar import holiday_columns
from platform_assets.features.chunks import Chunk, category_chunks
from platform_assets.features.columns import feature_columns
from platform_assets.features.config import FeatureConfig
from platform_assets.features.exact import common_factors, exact_factors, factor_candidates
from tests.support.frames import chunkable, features_for, make_data

KEYS = ["product_id", "store_id"]


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


def test_a_missing_period_has_no_target_for_either_target(daily):
    """A period the mart marks missing (its store reported nothing) trains nothing, even for the price
    target, whose column the mart still fills with the carried price."""
    start = daily["sales"]["period_date"].min() + timedelta(days=40)
    lost = pl.col("period_date").is_between(start, start + timedelta(days=9))
    gap = dict(daily)
    gap["sales"] = daily["sales"].with_columns(
        pl.when(lost).then(None).otherwise("units_sold").alias("units_sold"), lost.alias("is_missing")
    )
    for target in ("units_sold", "price"):
        built = features_for(gap, FeatureConfig(target=target, horizon=7))
        assert built.filter(lost)["y"].null_count() == built.filter(lost).height > 0
        assert built.filter(~lost & ~pl.col("is_future"))["y"].null_count() == 0


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


def test_an_unknown_holiday_country_fails_in_one_line():
    with pytest.raises(ValueError, match=r"^SHELFCAST_HOLIDAYS='XX-YY': Country XX not available \(expected"):
        FeatureConfig(holidays="XX-YY")
    assert FeatureConfig(holidays="us-ca").holidays == "us-ca"  # codes are read case-insensitively


@pytest.mark.parametrize("freq", ["D", "W", "W-THU", "M", "ME"])
def test_holidays_are_counted_over_the_days_each_period_holds(freq):
    """Against a day-by-day count: holidays in the period, days from its first day to the next one and
    since the one before (US-CA, over the 2024/2025 turn of the year)."""
    labels = pl.Series([period_of(date(2024, 11, 1) + timedelta(days=i), freq) for i in range(0, 75, 3)])
    got = holiday_columns(labels, freq, "US-CA")
    days = sorted(holidays.country_holidays("US", subdiv="CA", years=range(2023, 2027)))
    for label, count, to_next, since in got.iter_rows():
        first = offset_periods(label, -1, freq) + timedelta(days=1) if freq in ("W-THU", "ME") else label
        last = offset_periods(first, 1, freq) - timedelta(days=1) if freq not in ("W-THU", "ME") else label
        assert count == sum(first <= d <= last for d in days)
        assert to_next == min((d - first).days for d in days if d >= first)
        assert since == min((first - d).days for d in days if d < first)
    assert got["holidays_in_period"].sum() > 0
