"""The whole graph, raw feed to forecasts, materialized in-process on the synthetic feed (the session's
`served_graph`: the serving tests read the same run, so the graph is built once)."""

from collections.abc import Iterator

import polars as pl
import pytest
from mlflow import MlflowClient

from platform_assets.modeling.names import CHAMPION, MODEL_NAME
from tests.support.graph import SMALL_GRAPH, Graph, ServedGraph, materialization_metadata, shelfcast_graph

HORIZON = int(SMALL_GRAPH["HORIZON"])  # what the served graph was configured with


@pytest.fixture(scope="module")
def graph(served_graph: ServedGraph) -> Iterator[tuple[Graph, object]]:
    with shelfcast_graph(served_graph.home, served_graph.instance, **served_graph.env) as g:
        yield g, served_graph.result


def test_every_check_passes(graph):
    _, result = graph
    evaluations = result.get_asset_check_evaluations()
    assert evaluations, "dbt tests and the promotion gate should surface as asset checks"
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert failed == []
    names = {e.check_name for e in evaluations}
    expected = {"rejected_row_rate", "newest_period_volume", "actuals_freshness", "champion_is_vetted"}
    assert expected | {"dataset_drift"} <= names


def test_rows_in_equal_accepted_plus_rejected(graph):
    g, result = graph
    # A single-run backfill records one materialization per monthly partition, with the run's totals.
    meta, *others = materialization_metadata(result, "raw_observations")
    assert all(m == meta for m in others)
    assert meta["rows_in"] == meta["rows_accepted"] + meta["rows_rejected"]
    landed = g.warehouse.query("select count(*) from raw.observations").item()
    rejected = g.warehouse.query(
        "select count(*) from raw.rejected_rows where source = 'observations'"
    ).item()
    assert (landed, rejected) == (meta["rows_accepted"], meta["rows_rejected"])


def test_forecasts_cover_every_active_series(graph):
    g, _ = graph
    active = g.warehouse.query(
        "select product_id, store_id from marts.dim_series where is_active order by all"
    )
    latest = g.warehouse.query(
        """select product_id, store_id, count(*) as n, count(distinct target_date) as days,
                  bool_and(p10 <= p50 and p50 <= p90) as ordered, min(horizon) as h0, max(horizon) as h1
           from marts.forecasts_latest group by all order by product_id, store_id"""
    )
    assert active.height > 0
    assert latest.select("product_id", "store_id").equals(active)
    assert latest["n"].to_list() == [HORIZON] * active.height
    assert latest["days"].to_list() == [HORIZON] * active.height
    assert latest["ordered"].all()
    assert (latest["h0"].min(), latest["h1"].max()) == (1, HORIZON)
    first = g.warehouse.query("select min(target_date) from marts.forecasts_latest").item()
    last_actual = g.warehouse.query("select max(period_date) from marts.fct_product_sales").item()
    assert (first - last_actual).days == 1


def test_champion_registered_with_evidence(graph):
    g, result = graph
    uri = g.mlflow.tracking_uri  # and as the registry: MLflow's process-wide one is another test's home
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    run = client.get_run(champion.run_id)
    for metric in (
        "wape",
        "mase",
        "smape",
        "rmse",
        "seasonal_naive_wape",
        "naive_wape",
        "coverage_80",
        "coverage_95",
    ):
        assert metric in run.data.metrics
    assert any(k.startswith("coverage_80_") for k in run.data.metrics)  # per demand segment
    plots = {a.path for a in client.list_artifacts(champion.run_id, "plots")}
    assert plots == {"plots/feature_importance.png", "plots/forecast_vs_actual.png"}
    [gate] = materialization_metadata(result, "champion_model")
    assert gate["promoted"] is True and gate["champion_version"] == str(champion.version)
    # The version says where it came from and why it was promoted; the run spans the whole training.
    assert champion.description.startswith(
        f"Trained by Dagster run http://127.0.0.1:3000/runs/{result.run_id}"
    )
    assert f"## Promotion gate\n\n**Promoted** to champion: {gate['reason']}." in champion.description
    assert champion.tags["shelfcast.promoted"] == "true"
    [trained] = [s for s in g.instance.get_run_step_stats(result.run_id) if s.step_key == "trained_model"]
    step_seconds = trained.end_time - trained.start_time
    assert 0.5 * step_seconds < (run.info.end_time - run.info.start_time) / 1000 <= step_seconds
    served = g.warehouse.query("select distinct model_version from marts.forecasts_latest")
    assert served["model_version"].to_list() == [str(champion.version)]


def test_drift_scores_persisted_per_feature_and_evaluation(graph):
    g, result = graph
    history = g.warehouse.query("select * from monitoring.drift_scores")
    assert result.run_id in history["evaluation_id"].to_list()  # daily refreshes add evaluations
    scores = history.filter((pl.col("evaluation_id") == result.run_id) & (pl.col("scope") == "features"))
    assert scores["feature"].is_unique().all()
    assert {"y", "price", "lag_7"} <= set(scores["feature"].to_list())
    predictions = history.filter(
        (pl.col("evaluation_id") == result.run_id) & (pl.col("scope") == "prediction")
    )
    assert predictions["feature"].to_list() == ["prediction"]
    assert "day_of_week" not in scores["feature"].to_list()  # calendar columns are not monitored
    bounds = scores.select("reference_start", "reference_end", "current_start", "current_end").unique()
    assert bounds.height == 1
    assert (bounds["current_end"] - bounds["current_start"]).dt.total_days().item() == 27
