"""The retrain sensor: failing drift or decay checks start the `retrain` job on their own."""

from datetime import UTC, datetime

import dagster as dg

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.defs.monitoring import RETRAIN_TRIGGERS
from platform_assets.defs.orchestration import retrain
from platform_assets.monitoring.retrain_policy import Evaluation, decide_retrain

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def latest_evaluations(instance: dg.DagsterInstance) -> list[Evaluation]:
    """The newest completed evaluation of each watched check, as recorded by the instance."""
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(RETRAIN_TRIGGERS))
    out = []
    for key, record in records.items():
        # The status enum has no public import in Dagster 1.13; its values are stable strings.
        if record.status.value not in ("SUCCEEDED", "FAILED") or record.event is None:
            continue
        evaluation = record.event.dagster_event.event_specific_data
        out.append(
            Evaluation(
                check=key.name,
                evaluation_id=record.id,
                run_id=record.run_id,
                passed=record.status.value == "SUCCEEDED",
                at=record.create_timestamp,
                description=evaluation.description or "",
            )
        )
    return out


@dg.sensor(
    job=retrain,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts `retrain` when dataset_drift, prediction_drift or accuracy_decay fails "
    "(once per failing evaluation, at most once per SHELFCAST_RETRAIN_COOLDOWN_HOURS).",
)
def retrain_sensor(context: dg.SensorEvaluationContext, config: ShelfcastConfig):
    instance = context.instance
    last = instance.get_run_records(filters=dg.RunsFilter(job_name=retrain.name), limit=1)
    in_flight = instance.get_runs(filters=dg.RunsFilter(job_name=retrain.name, statuses=IN_FLIGHT), limit=1)
    decision = decide_retrain(
        latest_evaluations(instance),
        now=datetime.now(UTC).timestamp(),
        cooldown_hours=config.monitoring.retrain_cooldown_hours,
        last_retrain_at=last[0].create_timestamp.timestamp() if last else None,
        in_flight_run=in_flight[0].run_id if in_flight else None,
    )
    if decision.run_key is None:
        return dg.SkipReason(decision.reason)
    context.log.info(decision.reason)
    return dg.RunRequest(run_key=decision.run_key, tags=decision.tags)


def build_retraining_defs() -> dg.Definitions:
    return dg.Definitions(sensors=[retrain_sensor])
