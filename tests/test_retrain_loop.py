"""The monitoring loop end to end against a real DagsterInstance: clean history -> champion, drifted
periods arrive -> the drift check fails -> the retrain sensor requests `retrain` -> the run trains on
the new data -> the gate decides on that data; the next sensor tick does not retrain again."""

import dagster as dg
import duckdb
import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient

from platform_assets.defs.retraining import latest_evaluations
from platform_assets.modeling.names import CHALLENGER, CHAMPION, MODEL_NAME
from platform_assets.modeling.promotion import evaluate_on_backtest
from platform_assets.runner.drift_loop import run_loop
from tests.support.graph import SMALL_GRAPH, seed_mlflow


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("loop")
    seed_mlflow(home)
    with dg.DagsterInstance.ephemeral() as instance:
        report = run_loop(instance, {**SMALL_GRAPH, "HOME": str(home)}, new_days=35)
        print(report)  # shown when a test fails
        yield report, home, instance


def test_drifted_periods_fail_the_drift_check(loop):
    report, _, _ = loop
    # The same checks passed on the clean history: the failure is the drift, not the check.
    assert report.history_checks["dataset_drift"]["passed"] is True, report.history_checks
    assert report.history_checks["prediction_drift"]["passed"] is True, report.history_checks
    # the verdict's text says which side of the threshold means drift (a p-value drifts below it)
    assert "(drift " in report.history_checks["prediction_drift"]["description"], report.history_checks
    assert report.checks["dataset_drift"]["passed"] is False, report.checks["dataset_drift"]
    assert any(d.startswith("y ") for d in report.drifted), report.drifted


def test_forecasts_are_scored_against_the_actuals_that_arrived(loop):
    report, home, _ = loop
    assert report.checks["accuracy_decay"]["passed"] is not None
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        stored = con.sql("select * from monitoring.forecast_accuracy order by generation_id, horizon").pl()
        joined = con.sql(
            """select f.generation_id, f.horizon, s.units_sold as y, f.p2_5, f.p10, f.p50, f.p90, f.p97_5
               from marts.forecasts f join marts.fct_product_sales s
                 on (s.product_id, s.store_id, s.period_date) = (f.product_id, f.store_id, f.target_date)"""
        ).pl()
    # Recomputed here from the two tables: the first generation, all 7 steps, now has actuals.
    expected = (
        joined.group_by("generation_id", "horizon")
        .agg(
            ((pl.col("y") - pl.col("p50")).abs().sum() / pl.col("y").abs().sum()).alias("wape"),
            pl.col("y").is_between(pl.col("p10"), pl.col("p90")).mean().alias("coverage_p10_p90"),
            pl.col("y").is_between(pl.col("p2_5"), pl.col("p97_5")).mean().alias("coverage_95"),
            pl.len().alias("n_forecasts"),
        )
        .sort("generation_id", "horizon")
    )
    assert stored.height == expected.height >= 7
    assert stored["n_forecasts"].to_list() == expected["n_forecasts"].to_list()
    assert stored["wape"].to_list() == pytest.approx(expected["wape"].to_list())
    assert stored["coverage_p10_p90"].to_list() == pytest.approx(expected["coverage_p10_p90"].to_list())
    assert stored["coverage_95"].to_list() == pytest.approx(expected["coverage_95"].to_list())
    assert stored["backtest_coverage_95"].is_between(0, 1).all()
    assert stored["backtest_wape"].is_not_null().all()


def test_the_drift_report_is_kept_and_logged_next_to_the_model(loop):
    report, home, _ = loop
    folder = home / "reports" / "drift" / report.refresh_run_id
    html = (folder / "drift_report.html").read_text()
    assert "<img" in html and ">y<" in html
    assert (folder / "drift_summary.png").read_bytes().startswith(b"\x89PNG")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    v1 = client.get_model_version(MODEL_NAME, report.champion_before)
    logged = client.list_artifacts(v1.run_id, f"monitoring/drift/{report.refresh_run_id}")
    assert {a.path.rsplit("/", 1)[-1] for a in logged} == {"drift_report.html", "drift_summary.png"}


def test_the_sensor_requests_one_retrain_named_for_the_failing_evaluation(loop):
    report, _, _ = loop
    assert report.sensor_request is not None, report.sensor_skip
    assert "dataset_drift" in report.sensor_request.run_key
    assert report.sensor_request.tags["shelfcast/trigger"] == "monitoring"


def test_the_retrain_trains_on_the_new_data_and_the_gate_decides_on_it(loop):
    report, home, _ = loop
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL_NAME}'"))
    assert versions == [1, 2]
    assert report.promotion["challenger_version"] == "2"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        backtests = con.sql("select * from ml.backtest_predictions order by all").pl()
        components = con.sql("select * from ml.backtest_components where model_version = '2'").pl()
        features = con.sql(
            "select * from features.training_features order by product_id, store_id, period_date"
        ).pl()
    windows = backtests.filter(pl.col("model_version") == "2")
    # The challenger was scored on the periods that arrived after the champion's training.
    assert windows["origin"].min() > backtests.filter(pl.col("model_version") == "1")["period_date"].max()
    # The gate's evidence, recomputed here: the challenger's own backtest, and the champion (v1, loaded
    # by version: its combination) scored on the challenger's windows from the whole feature table.
    challenger = client.get_run(client.get_model_version(MODEL_NAME, "2").run_id).data.metrics
    champion_model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/1").unwrap_python_model().combination
    champion = evaluate_on_backtest(champion_model, features, windows, components)
    evidence = report.promotion["evidence"]
    assert evidence[CHALLENGER]["wape"] == pytest.approx(challenger["wape"])
    assert evidence[CHAMPION]["wape"] == pytest.approx(champion["wape"])
    for baseline in ("naive_wape", "seasonal_naive_wape", "recent_median_wape"):  # the same rows
        assert evidence[CHAMPION][baseline] == pytest.approx(challenger[baseline])
    # The decision those numbers must give: beat seasonal naive (by a wide margin here), then v1.
    assert challenger["wape"] < 0.9 * challenger["seasonal_naive_wape"]
    promoted = challenger["wape"] < champion["wape"]
    assert report.promotion["promoted"] is promoted, report.promotion["reason"]
    assert report.promotion["champion_version"] == ("2" if promoted else "1")


def test_the_next_tick_does_not_retrain_again(loop):
    report, _, instance = loop
    # The retrain evaluated prediction_drift again, on its own forecasts, and it passed: the failing
    # watched checks left are the drifted refresh's (dataset_drift; accuracy_decay too when the old
    # forecasts scored on the drifted actuals fell past its margin), older than the retrain. So the
    # sensor skips because the retrain already answered them (the cool-down would hold only newer ones).
    latest = {e.check: e for e in latest_evaluations(instance)}
    failing = {check: e.run_id for check, e in latest.items() if not e.passed}
    assert "dataset_drift" in failing and set(failing) <= {"dataset_drift", "accuracy_decay"}, latest
    assert set(failing.values()) == {report.refresh_run_id}, latest
    assert latest["prediction_drift"].run_id == report.retrain_run_id
    names = ", ".join(f"{check} (run {report.refresh_run_id[:8]})" for check in sorted(failing))
    assert report.second_sensor_skip == f"failing {names} predate the last retrain: already answered"
