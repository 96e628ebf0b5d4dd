"""The serving bundle: what the graph's serving_bundle asset wrote, and the bundle files' rules
(immutable generations, an atomic `current`, pruning that never takes the served one)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import polars as pl
import pytest
from mlflow.exceptions import MlflowException

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import DEFAULT
from platform_assets.modeling.forecasting import columns
from platform_assets.modeling.names import CHAMPION, MODEL_NAME
from platform_assets.modeling.registry import load_combination
from platform_assets.serving.bundle import (
    FRAMES,
    BundleContent,
    current_generation,
    flip_current,
    generation_name,
    generations,
    prune,
    read_bundle,
    write_bundle,
)
from platform_assets.serving.codec import combination_from_json
from platform_assets.serving.layout import serving_root
from tests.support.graph import ServedGraph, materialization_metadata

COLUMNS = columns(DEFAULT)  # what make_forecasts returns at the default interval levels


def test_the_graph_publishes_a_current_bundle(served_graph: ServedGraph):
    [meta] = materialization_metadata(served_graph.result, "serving_bundle")
    root = serving_root(served_graph.home)
    assert meta["what_if"] is True and meta["generation"] == current_generation(root)
    content = read_bundle(root, meta["generation"])
    manifest = content.manifest
    assert manifest["champion"]["version"] == meta["model_version"] == "1"
    assert {"wape", "mase", "seasonal_naive_wape"} <= set(manifest["champion"]["metrics"])
    assert len(manifest["features"]["target_dates"]) == 7
    forecasts = content.frames["forecasts"]
    assert forecasts.select("product_id", "store_id").n_unique() == manifest["series"]["forecast"]
    assert forecasts["category"].null_count() == 0
    profile = content.frames["series_profile"]
    assert (profile["price_min"] <= profile["price_p50"]).all() and (
        profile["price_p50"] <= profile["price_max"]
    ).all()
    assert "price" in content.frames["feature_profile"]["feature"].to_list()
    assert set(content.frames["category_profile"]["category"]) == set(forecasts["category"])


def test_the_bundled_model_scores_like_the_registered_one(served_graph: ServedGraph):
    root = serving_root(served_graph.home)
    content = read_bundle(root, current_generation(root))
    bundled = combination_from_json(json.loads(json.dumps(content.model)))
    registered, _, _ = load_combination(f"sqlite:///{served_graph.home / 'mlflow.db'}", CHAMPION)
    assert bundled.choices == registered.choices and bundled.offsets == registered.offsets
    rows = content.frames["inference"].with_columns(pl.lit(1, pl.Int32).alias("horizon"))
    rows = bundled.forecaster.with_origin_features(rows, content.frames["history"])
    history = content.frames["history"]
    assert bundled.predict(rows, history).equals(registered.predict(rows, history))


def test_the_registered_champion_forecasts_series_ids_as_the_batch_did(served_graph: ServedGraph):
    """The champion loaded by alias, asked by series ids alone, answers the stored batch forecast of
    its generation (forecasts_latest, which the bundle holds) for every series."""
    root = serving_root(served_graph.home)
    content = read_bundle(root, current_generation(root))
    batch = content.frames["forecasts"]
    mlflow.set_tracking_uri(f"sqlite:///{served_graph.home / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
    request = batch.select(KEYS).unique(maintain_order=True)
    served = pl.from_pandas(model.predict(request.to_pandas())).with_columns(
        pl.col("target_date").cast(pl.Date)
    )
    assert served.height == batch.height == request.height * 7
    assert served.select(COLUMNS).equals(batch.select(COLUMNS))
    assert served["model_version"].unique().to_list() == [content.manifest["champion"]["version"]]
    with pytest.raises(MlflowException, match="unknown series product_id='nope' store_id='S01'"):
        model.predict(request.head(1).with_columns(pl.lit("nope").alias("product_id")).to_pandas())


def tiny(generation: str) -> BundleContent:
    frames = {name: pl.DataFrame({"x": [1]}) for name in FRAMES}
    return BundleContent(frames, {"model": True}, {"generation": generation})


def test_bundles_are_immutable_and_current_flips_atomically(tmp_path: Path):
    at = datetime(2026, 1, 1, tzinfo=UTC)
    first, second = generation_name(at, "run-one"), generation_name(at + timedelta(seconds=1), "run-two")
    assert current_generation(tmp_path) is None
    write_bundle(tmp_path, first, tiny(first))
    flip_current(tmp_path, first)
    with pytest.raises(FileExistsError):
        write_bundle(tmp_path, first, tiny(first))
    with pytest.raises(FileNotFoundError):
        flip_current(tmp_path, second)  # not written yet: the pointer never names a missing bundle
    write_bundle(tmp_path, second, tiny(second))
    assert current_generation(tmp_path) == first
    flip_current(tmp_path, second)
    assert (
        current_generation(tmp_path) == second
        and read_bundle(tmp_path, second).manifest["generation"] == second
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first, second, "current"])  # no temporaries


def test_pruning_keeps_the_newest_and_never_the_current(tmp_path: Path):
    at = datetime(2026, 1, 1, tzinfo=UTC)
    names = [generation_name(at + timedelta(minutes=i), f"run{i}") for i in range(5)]
    for name in names:
        write_bundle(tmp_path, name, tiny(name))
    flip_current(tmp_path, names[0])  # e.g. rolled back to the oldest
    assert prune(tmp_path, keep=2) == names[1:3]
    assert generations(tmp_path) == [names[0], *names[3:]]
    assert prune(tmp_path, keep=0) == [names[3]]  # at least one is kept besides the current
    assert generations(tmp_path) == [names[0], names[4]]
