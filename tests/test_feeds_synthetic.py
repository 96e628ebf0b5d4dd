"""The synthetic feed: deterministic, windowed without loss, realistic, and drifting only when told."""

import json
from datetime import date, timedelta

import polars as pl
import pytest

from platform_assets.core.periods import month_windows
from platform_assets.core.schemas import RAW_OBSERVATIONS, RAW_PRODUCTS, RAW_SUPPLIERS, REJECTED_ROWS
from platform_assets.feeds import SynthConfig, SyntheticFeed, make_feed
from platform_assets.feeds.synthetic.history import generate

SMALL = SynthConfig(products=12, stores=2, days=120, start=date(2025, 1, 10), horizon=7, seed=3)
DRIFT_FROM = date(2025, 3, 15)


def schema_of(df: pl.DataFrame) -> dict:
    return dict(df.schema)


def all_rows(feed: SyntheticFeed) -> pl.DataFrame:
    first, last = feed.span()
    return feed.observations(first, last + timedelta(days=1)).accepted


@pytest.fixture(scope="module")
def default_obs() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The default configuration (100 products x 3 stores x 730 days), generated once."""
    products, _, obs = generate(SynthConfig())
    return products, obs


def test_same_seed_same_rows_other_seed_other_rows():
    first = all_rows(SyntheticFeed(SMALL))
    generate.cache_clear()  # regenerate for real, not from the cache
    again = all_rows(SyntheticFeed(SMALL))
    other = all_rows(SyntheticFeed(SynthConfig(**{**SMALL.__dict__, "seed": 4})))
    assert first.equals(again)
    assert not first.equals(other)


def test_contract_columns_and_sort():
    feed = SyntheticFeed(SMALL)
    obs = all_rows(feed)
    assert schema_of(obs) == RAW_OBSERVATIONS
    assert schema_of(feed.products().accepted) == RAW_PRODUCTS
    assert schema_of(feed.suppliers().accepted) == RAW_SUPPLIERS
    assert schema_of(feed.products().rejected) == REJECTED_ROWS
    assert obs.equals(obs.sort("date", "product_id", "store_id"))
    assert obs["source_line"].is_unique().all() and (obs["source_file"] == "synthetic").all()
    assert obs.select("date", "product_id", "store_id").is_unique().all()
    units = obs["units_sold"].drop_nulls()
    assert (units >= 0).all() and (units == units.round()).all()
    assert obs["price"].null_count() == 0 and (obs["price"] > 0).all()
    assert set(obs["product_id"]) <= set(feed.products().accepted["product_id"])
    products = feed.products().accepted
    assert set(products["supplier_id"]) <= set(feed.suppliers().accepted["supplier_id"])
    attributes = [json.loads(a) for a in products["attributes"]]
    assert all({"pack_size", "is_electronics", "launch_date"} <= set(a) for a in attributes)


def test_windows_add_up_to_one_call():
    feed = SyntheticFeed(SMALL)
    first, last = feed.span()
    whole = feed.observations(first, last + timedelta(days=1))
    parts = [feed.observations(lo, hi) for _, lo, hi in month_windows(first, last + timedelta(days=1))]
    assert len(parts) == 5
    assert pl.concat([p.accepted for p in parts]).equals(whole.accepted)
    assert sum(p.rows_in for p in parts) == whole.rows_in == whole.accepted.height
    assert all(p.rejected.height == 0 for p in parts)


def test_a_month_alone_draws_the_rows_the_whole_history_has():
    """Units are drawn per slice (the costly part): a month asked alone, with a cold cache, gives the
    rows of the whole history's generation, which is pinned to the values the feed had before."""
    config = SynthConfig(**{**SMALL.__dict__, "drift_from": DRIFT_FROM, "drift_kind": "both"})
    generate.cache_clear()
    april = SyntheticFeed(config).observations(date(2025, 4, 1), date(2025, 5, 1)).accepted
    generate.cache_clear()
    whole = generate(config)[2]
    assert april.equals(
        whole.filter((pl.col("date") >= date(2025, 4, 1)) & (pl.col("date") < date(2025, 5, 1)))
    )
    first = april.filter(pl.col("date") == date(2025, 4, 1)).head(2)
    assert first.select("product_id", "store_id", "units_sold", "price", "source_line").rows() == [
        ("P0001", "S01", 3.0, 5.5, 1675),
        ("P0001", "S02", 4.0, 5.5, 1676),
    ]
    assert (whole.height, whole["units_sold"].sum(), whole["source_line"].max()) == (2705, 20480.0, 2705)
    assert whole["price"].sum() == pytest.approx(50358.43)


def test_plan_rows_follow_the_last_actual_day():
    feed = SyntheticFeed(SMALL)
    obs = all_rows(feed)
    last_actual = SMALL.start + timedelta(days=SMALL.days - 1)
    assert feed.span() == (SMALL.start, last_actual + timedelta(days=SMALL.horizon))
    plans = obs.filter(pl.col("units_sold").is_null())
    assert plans["date"].min() == last_actual + timedelta(days=1)
    assert plans["date"].n_unique() == SMALL.horizon
    assert obs.filter(pl.col("date") <= last_actual)["units_sold"].null_count() == 0
    assert plans["price"].null_count() == 0 and plans["on_promo"].null_count() == 0


@pytest.mark.parametrize("kind", ["demand", "price", "both"])
def test_drift_changes_only_dates_from_drift_from(kind):
    base = SyntheticFeed(SMALL)
    drifted = SyntheticFeed(SynthConfig(**{**SMALL.__dict__, "drift_from": DRIFT_FROM, "drift_kind": kind}))
    before, after = (date(2000, 1, 1), DRIFT_FROM), (DRIFT_FROM, date(2100, 1, 1))
    assert drifted.observations(*before).accepted.equals(base.observations(*before).accepted)
    after_base, after_drift = base.observations(*after).accepted, drifted.observations(*after).accepted
    assert after_base.select("date", "product_id", "store_id").equals(
        after_drift.select("date", "product_id", "store_id")
    )
    price_ratio = after_drift["price"].sum() / after_base["price"].sum()
    units_ratio = after_drift["units_sold"].sum() / after_base["units_sold"].sum()
    if kind == "demand":
        assert price_ratio == 1.0 and units_ratio > 1.1
    if kind == "price":
        assert price_ratio > 1.02 and units_ratio < 1.0
    if kind == "both":
        assert price_ratio > 1.02 and units_ratio > 1.1


def test_realistic_structure(default_obs):
    products, obs = default_obs
    assert obs.height > 150_000
    actual = obs.drop_nulls("units_sold").join(products.select("product_id", "category"), on="product_id")
    by_promo = actual.group_by("on_promo").agg(pl.col("units_sold").mean()).sort("on_promo")
    assert by_promo["units_sold"][1] > 1.5 * by_promo["units_sold"][0]  # promotions lift demand
    weekday = actual.group_by(pl.col("date").dt.weekday()).agg(pl.col("units_sold").mean())
    assert weekday["units_sold"].max() > 1.2 * weekday["units_sold"].min()  # weekly pattern
    zeros = actual.group_by("product_id").agg((pl.col("units_sold") == 0).mean().alias("z"))
    assert (zeros["z"] > 0.5).sum() >= 5  # intermittent products
    starts = actual.group_by("product_id").agg(pl.col("date").min().alias("first"), pl.col("date").max())
    assert (starts["first"] > date(2024, 12, 1)).sum() >= 5  # launches
    assert (starts["date"] < date(2026, 10, 1)).sum() >= 2  # discontinuations
    days = actual["date"].n_unique()
    assert days < 730 and actual.height < 100 * 3 * days  # closed days and missing rows
    electronics = actual.filter(pl.col("category") == "electronics", ~pl.col("on_promo"))
    decay = electronics.group_by("product_id").agg(
        pl.col("price").first().alias("launch_price"), pl.col("price").last().alias("last_price")
    )
    assert (decay["last_price"] < decay["launch_price"]).all()  # electronics prices decay
    assert set(products["category"]) == {"grocery", "household", "electronics", "apparel", "personal_care"}


def test_make_feed_choices():
    kwargs = {"landing_dir": None, "synth": SMALL, "quarantine_dir": "unused"}
    assert make_feed("synthetic", freq=None, **kwargs).freq == "D"
    with pytest.raises(ValueError, match="unknown feed 'kafka'"):
        make_feed("kafka", freq=None, **kwargs)
    with pytest.raises(ValueError, match="freq='H'"):
        make_feed("synthetic", freq="H", **kwargs)
    with pytest.raises(ValueError, match="landing directory"):
        make_feed("files", freq=None, **kwargs)
    with pytest.raises(ValueError, match="drift_kind"):
        SynthConfig(drift_kind="supply")
