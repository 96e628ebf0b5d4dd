"""The monitoring loop end to end, on the synthetic feed: train on clean history, let drifted periods
arrive, watch the drift check fail, let the retrain sensor start `retrain`, and gate the challenger.

`make drift-demo` runs it against the persistent instance in DAGSTER_HOME; the loop test runs the same
function against an ephemeral one. Phases are separate definitions built from the environment, the
way a deployment sees new data: the generator's history grows and its drift switch turns on.
"""

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from platform_assets.config.settings import PREFIX, load_settings
from platform_assets.definitions import build_defs
from platform_assets.defs.orchestration import partition_range_tags


@dataclass
class LoopReport:
    """What happened at each step, for the demo to print and the test to assert on."""

    champion_before: str | None = None
    refresh_run_id: str | None = None
    history_checks: dict[str, dict] = field(default_factory=dict)  # the same checks on clean history
    checks: dict[str, dict] = field(default_factory=dict)  # check name -> passed, description
    drifted: list[str] = field(default_factory=list)
    sensor_request: dg.RunRequest | None = None
    sensor_skip: str | None = None
    retrain_run_id: str | None = None
    promotion: dict = field(default_factory=dict)
    second_sensor_skip: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """SHELFCAST_* set to exactly `values` (prefix added) for the phase, restored afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(PREFIX)}
    for key in saved:
        del os.environ[key]
    os.environ.update({f"{PREFIX}{k}": v for k, v in values.items()})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith(PREFIX)]:
            del os.environ[key]
        os.environ.update(saved)


def _month(day: date) -> str:
    return day.replace(day=1).isoformat()


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        e.check_name: {"passed": e.passed, "description": e.description or ""}
        for e in result.get_asset_check_evaluations()
    }


def run_loop(instance: dg.DagsterInstance, env: Mapping[str, str], new_days: int = 35) -> LoopReport:
    """Run the loop; `env` is the SHELFCAST_* configuration (without the prefix) of the clean history."""
    report = LoopReport()
    clean = {k: v for k, v in env.items() if not k.startswith("SYNTH_DRIFT")}

    def timed(name: str, job: str, defs: dg.Definitions, tags: dict) -> dg.ExecuteInProcessResult:
        began = time.monotonic()
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags)
        report.seconds[name] = round(time.monotonic() - began, 1)
        return result

    with environment(clean):
        defs = build_defs(load_settings())
        config = _config(defs)
        start, days = date.fromisoformat(config.ingest.synth_start), config.ingest.synth_days
        last = start + timedelta(days=days - 1 + config.forecasting.horizon)
        history = timed("history", "full_refresh", defs, partition_range_tags(_month(start), _month(last)))
        report.history_checks = _checks(history)
        report.champion_before = _champion_version(defs)

    first_new = start + timedelta(days=days)
    drifted_env = {
        **clean,
        "SYNTH_DAYS": str(days + new_days),
        "SYNTH_DRIFT_FROM": first_new.isoformat(),
        "SYNTH_DRIFT_KIND": env.get("SYNTH_DRIFT_KIND", "both"),
    }
    with environment(drifted_env):
        defs = build_defs(load_settings())
        last = first_new + timedelta(days=new_days - 1 + config.forecasting.horizon)
        # From the month of the last clean day: its plan rows are replaced by actuals.
        tags = partition_range_tags(_month(first_new - timedelta(days=1)), _month(last))
        refresh = timed("drifted_refresh", "daily_refresh", defs, tags)
        report.refresh_run_id = refresh.run_id
        report.checks = _checks(refresh)
        report.drifted = _drifted(defs, refresh.run_id)
        report.sensor_request, report.sensor_skip = evaluate_retrain_sensor(instance, defs)
        if report.sensor_request is not None:
            run = timed("retrain", "retrain", defs, dict(report.sensor_request.tags))
            report.retrain_run_id = run.run_id
            report.promotion = _promotion(run)
            _, report.second_sensor_skip = evaluate_retrain_sensor(instance, defs)
    return report


def evaluate_retrain_sensor(
    instance: dg.DagsterInstance, defs: dg.Definitions
) -> tuple[dg.RunRequest | None, str | None]:
    """One tick of the retrain sensor: (the run it requests, or None and its skip reason)."""
    sensor = defs.resolve_sensor_def("retrain_sensor")
    context = dg.build_sensor_context(instance=instance, resources=dict(defs.resources))
    result = sensor.evaluate_tick(context)
    if result.run_requests:
        [request] = result.run_requests
        return request, None
    return None, result.skip_message


def _config(defs: dg.Definitions):
    """The configuration resource resolved the way a run resolves it (EnvVar fields read)."""
    return defs.resources["config"].process_config_and_initialize()


def _champion_version(defs: dg.Definitions) -> str | None:
    from platform_assets.modeling.names import CHAMPION
    from platform_assets.modeling.registry import alias_version

    champion = alias_version(defs.resources["mlflow"].tracking_uri, CHAMPION)
    return champion[0] if champion else None


def _drifted(defs: dg.Definitions, run_id: str) -> list[str]:
    warehouse = defs.resources["warehouse"]
    rows = warehouse.query(
        "select feature, method, score from monitoring.drift_scores"
        " where evaluation_id = ? and scope = 'features' and drifted order by score desc",
        [run_id],
    )
    return [f"{r['feature']} ({r['method']} {r['score']:.3f})" for r in rows.iter_rows(named=True)]


def _promotion(result: dg.ExecuteInProcessResult) -> dict:
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("champion_model")
    ]
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
