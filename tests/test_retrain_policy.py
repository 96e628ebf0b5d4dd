"""The retrain sensor's decision: once per failing evaluation, never during a cool-down or a run."""

from platform_assets.monitoring.retrain_policy import Evaluation, decide_retrain

HOUR = 3600.0
NOW = 1_000_000.0


def evaluation(check: str, passed: bool, at: float, evaluation_id: int = 1) -> Evaluation:
    return Evaluation(check, evaluation_id, f"run-{evaluation_id:08d}", passed, at)


def decide(latest, last_retrain_at=None, in_flight=None, cooldown=24.0):
    return decide_retrain(
        latest, now=NOW, cooldown_hours=cooldown, last_retrain_at=last_retrain_at, in_flight_run=in_flight
    )


def test_nothing_evaluated_or_all_passing_skips_with_a_reason():
    assert decide([]).run_key is None
    passing = decide([evaluation("dataset_drift", True, NOW - HOUR)])
    assert passing.run_key is None and "pass" in passing.reason


def test_a_failing_check_requests_a_retrain_keyed_by_its_evaluation():
    decision = decide(
        [evaluation("dataset_drift", False, NOW - HOUR, 42), evaluation("accuracy_decay", True, NOW)]
    )
    assert decision.run_key == "retrain-dataset_drift.42"
    assert decision.tags["shelfcast/failing_checks"] == "dataset_drift"
    # The same state evaluated again gives the same key: Dagster starts one run, not two.
    assert decide([evaluation("dataset_drift", False, NOW - HOUR, 42)]).run_key == decision.run_key


def test_a_new_failing_evaluation_gets_a_new_key():
    first = decide([evaluation("dataset_drift", False, NOW - HOUR, 42)])
    second = decide([evaluation("dataset_drift", False, NOW - HOUR, 43)])
    assert first.run_key != second.run_key


def test_a_failure_older_than_the_last_retrain_is_already_answered():
    decision = decide([evaluation("dataset_drift", False, NOW - 30 * HOUR)], last_retrain_at=NOW - 26 * HOUR)
    assert decision.run_key is None and "predate" in decision.reason


def test_cool_down_holds_a_persistent_failure_until_it_expires():
    failing = [evaluation("prediction_drift", False, NOW - HOUR, 7)]
    held = decide(failing, last_retrain_at=NOW - 2 * HOUR)
    assert held.run_key is None and "cool-down" in held.reason and "prediction_drift" in held.reason
    assert (
        decide(failing, last_retrain_at=NOW - 2 * HOUR, cooldown=1.0).run_key == "retrain-prediction_drift.7"
    )


def test_no_retrain_while_one_is_in_flight():
    decision = decide([evaluation("dataset_drift", False, NOW - HOUR)], in_flight="abcdef0123")
    assert decision.run_key is None and "abcdef01" in decision.reason


def test_only_failures_after_the_last_retrain_name_the_run():
    latest = [
        evaluation("dataset_drift", False, NOW - 30 * HOUR, 1),
        evaluation("accuracy_decay", False, NOW - HOUR, 2),
    ]
    decision = decide(latest, last_retrain_at=NOW - 28 * HOUR)
    assert decision.run_key == "retrain-accuracy_decay.2"
