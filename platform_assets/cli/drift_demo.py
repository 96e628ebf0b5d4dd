"""`make drift-demo`: the monitoring loop end to end on a fresh home (runner/drift_loop.py)."""

import os
import sys
import time

import dagster as dg

from platform_assets.config.settings import PREFIX
from platform_assets.runner.drift_loop import run_loop


def main() -> int:
    env = {k.removeprefix(PREFIX): v for k, v in os.environ.items() if k.startswith(PREFIX)}
    env.setdefault("FRESHNESS_MAX_AGE_DAYS", "100000")  # historical synthetic data: not stale by design
    began = time.monotonic()
    report = run_loop(dg.DagsterInstance.get(), env, int(env.pop("DRIFT_DEMO_NEW_DAYS", "35")))
    print(f"champion before the drift: v{report.champion_before}")
    moments = {"on the clean history": report.history_checks, "after the drift": report.checks}
    for moment, checks in moments.items():
        print(f"checks {moment}:")
        for name in ("dataset_drift", "prediction_drift", "accuracy_decay"):
            check = checks.get(name, {"passed": None, "description": "not evaluated"})
            print(f"  {name:<17} {'pass' if check['passed'] else 'FAIL'}  {check['description']}")
    print(f"drifted columns: {', '.join(report.drifted) or 'none'}")
    if report.sensor_request is None:
        print(f"retrain sensor: skipped ({report.sensor_skip})")
    else:
        print(f"retrain sensor: requested retrain, run key {report.sensor_request.run_key}")
        print(f"retrain run {report.retrain_run_id}: promoted={report.promotion.get('promoted')}")
        print(f"  {report.promotion.get('reason')}")
        print(f"  champion now v{report.promotion.get('champion_version')}")
        print(f"retrain sensor, next tick: skipped ({report.second_sensor_skip})")
    print(f"timings (s): {report.seconds}; total {time.monotonic() - began:.0f} s")
    return 0 if report.sensor_request is not None else 1


if __name__ == "__main__":
    sys.exit(main())
