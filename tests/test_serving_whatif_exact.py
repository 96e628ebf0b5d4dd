"""The what-if's fast path against the batch's own: random plans on every series of a peer group,
forecast through `forecast_with_plans` (the peer group's cached input slices, the catalog's attributes
made once, the bundle's statistical forecasts made at load) and through the batch build and forecast
over every series with nothing cached. Both must agree to the bit."""

import dataclasses
import random

import polars as pl
import pytest

from platform_assets.core.keys import KEYS, ORDER
from platform_assets.features.build import build_features_since
from platform_assets.features.rebuild import with_changes
from platform_assets.modeling.forecasting import make_forecasts
from platform_assets.modeling.replan import forecast_with_plans
from platform_assets.serving.bundle import current_generation
from platform_assets.serving.layout import serving_root
from platform_assets.serving.loaded import LoadedBundle, load_bundle
from platform_assets.serving.scenario import SeriesPlan, _warnings, compare, run_scenario
from tests.support.graph import ServedGraph

SCHEMA = {"product_id": pl.String, "store_id": pl.String, "period_date": pl.Date, "price": pl.Float64,
          "on_promo": pl.Boolean}  # fmt: skip


def random_plan(bundle: LoadedBundle, keys: list[tuple[str, str]], rng: random.Random) -> pl.DataFrame:
    """Changed plan rows for every series in `keys`: on some dates a price on the feed's grid (or none:
    the last known one), a promotion or not."""
    rows = []
    for product, store in keys:
        for day in rng.sample(bundle.dates, rng.randint(1, len(bundle.dates))):
            price = None if rng.random() < 0.15 else bundle.inputs.on_grid(rng.uniform(0.2, 40.0))
            rows.append((product, store, day, price, rng.random() < 0.5))
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def batch_path(bundle: LoadedBundle, changed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Future rows and forecasts of every series, as the batch makes them, with the changed plans."""
    inputs = bundle.inputs
    rows = build_features_since(
        inputs.sales, inputs.products, with_changes(inputs.plans, changed), inputs.series, inputs.carry,
        inputs.first_future, inputs.factors, inputs.cfg, inputs.events,
    )  # fmt: skip
    future = rows.filter(pl.col("is_future"))
    window = inputs.cfg.windows[1]
    return future, make_forecasts(bundle.model, future, inputs.series, bundle.history, recent_window=window)


def with_unknown_prices(bundle: LoadedBundle, rng: random.Random) -> LoadedBundle:
    """`bundle` whose sales lost the price of their newest 1-20 periods in half the series (and every
    price in a few): a future row's price is then the last known one, further back (or carried in)."""
    sales = bundle.inputs.sales
    last = sales["period_date"].max()
    keys = sales.select(KEYS).unique().sort(KEYS).rows()
    lost = [(*k, rng.choice([1, 3, 20, 10_000])) for k in keys if rng.random() < 0.5]
    cut = pl.DataFrame(lost, schema={**dict.fromkeys(KEYS, pl.String), "_days": pl.Int64}, orient="row")
    unknown = (pl.lit(last) - pl.col("period_date")).dt.total_days() < pl.col("_days")
    sales = (
        sales.join(cut, on=KEYS, how="left", maintain_order="left")
        .with_columns(pl.when(unknown.fill_null(False)).then(None).otherwise(pl.col("price")).alias("price"))
        .drop("_days")
    )
    return dataclasses.replace(bundle, inputs=dataclasses.replace(bundle.inputs, sales=sales))


@pytest.mark.parametrize("prices", ["as sold", "newest unknown"])
def test_random_plans_on_whole_peer_groups_forecast_as_the_batch_does(served_graph: ServedGraph, prices):
    """Every series of a group planned at random; asked for all of them, one, or two (their peers then
    enter the rebuild with their sales' tails only, rebuild.py)."""
    root = serving_root(served_graph.home)
    bundle = load_bundle(root, current_generation(root))
    served = set(bundle.series_rows)
    rng = random.Random(20261130)
    if prices == "newest unknown":
        bundle = with_unknown_prices(bundle, rng)
    groups = list(bundle.inputs.groups)
    for group in [groups[0], groups[-1], *rng.sample(groups, min(2, len(groups)))]:
        in_group = [k for k in bundle.inputs.groups[group].series.select(KEYS).rows() if k in served]
        changed = random_plan(bundle, in_group, rng)
        batch_future, batch = batch_path(bundle, changed)
        for keys in [in_group, rng.sample(in_group, 1), rng.sample(in_group, min(2, len(in_group)))]:
            future, scored = forecast_with_plans(
                bundle.model, bundle.inputs, bundle.history, changed, keys, bundle.local
            )
            wanted = pl.DataFrame(keys, schema=KEYS, orient="row")
            assert sorted(future.select(KEYS).unique().rows()) == sorted(keys)
            expected = batch_future.join(wanted, on=KEYS, how="semi").sort(ORDER)
            assert future.sort(ORDER).equals(expected), (group, keys)
            assert future.schema == expected.schema
            expected_scored = batch.join(wanted, on=KEYS, how="semi").sort([*KEYS, "horizon"])
            assert scored.sort([*KEYS, "horizon"]).equals(expected_scored), (group, keys)
            assert scored.schema == expected_scored.schema
            # the plans moved the forecast: the test compares scenarios, not the stored baseline
            stored = bundle.forecasts.join(wanted, on=KEYS, how="semi").select(scored.columns)
            assert not scored.equals(stored)


def test_a_request_changing_nothing_skips_the_rebuild_and_answers_the_same(served_graph: ServedGraph):
    """No changed plan row: the bundle's future rows stand in for the rebuild (they are equal, which
    `check_rebuild` checked when the bundle was written); the answer is the one the rebuild gives."""
    root = serving_root(served_graph.home)
    bundle = load_bundle(root, current_generation(root))
    keys = sorted(bundle.series_rows)[:12]
    nothing = pl.DataFrame(schema=SCHEMA)
    for key in keys:
        shortcut = run_scenario(bundle, [SeriesPlan(*key)])
        future, scored = forecast_with_plans(
            bundle.model, bundle.inputs, bundle.history, nothing, [key], bundle.local
        )
        rebuilt = _warnings(bundle, compare(bundle, [key], future, scored), nothing, future)
        assert shortcut.rows.equals(rebuilt.rows) and shortcut.rows.schema == rebuilt.rows.schema, key
        assert shortcut.warnings == rebuilt.warnings
        assert shortcut.scores.as_json() == rebuilt.scores.as_json()


def test_a_bundle_whose_inputs_never_varied_still_answers_what_ifs(served_graph: ServedGraph):
    """A training set where nothing varies (every series sold nothing) fits a distance over no input:
    what-ifs are answered, with the other outlier kinds still judged."""
    from platform_assets.serving.reference import fit_distance
    from platform_assets.serving.scenario import Change

    root = serving_root(served_graph.home)
    bundle = load_bundle(root, current_generation(root))
    flat = fit_distance(pl.DataFrame({"lag_1": [0.0] * 20}), ["lag_1"])
    bundle = dataclasses.replace(
        bundle, outlier_profiles=dataclasses.replace(bundle.outlier_profiles, distance=flat)
    )
    key = bundle.forecasts.filter(pl.col("method") == "model").select(KEYS).row(0)
    outcome = run_scenario(bundle, [SeriesPlan(*key, (Change(price_change_pct=400),))])
    assert outcome.rows.height == len(bundle.dates) and outcome.scores.distance_max == 0.0
    assert any("highest" in w or "x this series" in w for w in outcome.warnings[key])
