"""The monitoring loop end to end against a real DagsterInstance: clean history -> champion, drifted
periods arrive -> the drift check fails -> the retrain sensor requests `retrain` -> the run trains on
the new data -> the gate decides on that data; the next sensor tick does not retrain again."""

import dagster as dg
import pytest
from mlflow import MlflowClient

from platform_assets.drift_loop import run_loop
from platform_assets.registry import MODEL_NAME

ENV = {
    "SYNTH_PRODUCTS": "12",
    "SYNTH_STORES": "2",
    "SYNTH_DAYS": "240",
    "HORIZON": "7",
    "FRESHNESS_MAX_AGE_DAYS": "100000",
}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("loop")
    with dg.DagsterInstance.ephemeral() as instance:
        report = run_loop(instance, {**ENV, "HOME": str(home)}, new_days=35)
        print(report)  # shown when a test fails
        yield report, home, instance


def test_drifted_periods_fail_the_drift_check(loop):
    report, _, _ = loop
    assert report.checks["dataset_drift"]["passed"] is False, report.checks["dataset_drift"]
    assert any(d.startswith("y ") for d in report.drifted), report.drifted


def test_the_sensor_requests_one_retrain_named_for_the_failing_evaluation(loop):
    report, _, _ = loop
    assert report.sensor_request is not None, report.sensor_skip
    assert "dataset_drift" in report.sensor_request.run_key
    assert report.sensor_request.tags["shelfcast/trigger"] == "monitoring"


def test_the_retrain_trains_on_the_new_data_and_the_gate_decides_on_it(loop):
    report, home, _ = loop
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL_NAME}'"))
    assert versions == [1, 2]
    challenger = report.promotion["challenger_version"]
    assert challenger == "2"
    evidence = report.promotion["evidence"]
    # The gate compared both models on the challenger's windows, which include the drifted periods.
    promoted = evidence["challenger"]["wape"] < evidence["champion"]["wape"]
    assert report.promotion["promoted"] is promoted
    expected_champion = "2" if promoted else report.champion_before
    assert report.promotion["champion_version"] == expected_champion


def test_the_next_tick_does_not_retrain_again(loop):
    report, _, _ = loop
    assert report.second_sensor_skip is not None
    assert "predate the last retrain" in report.second_sensor_skip
