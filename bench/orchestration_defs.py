"""The shelfcast code location plus one bench sensor: it requests a run of a no-op job whenever no
bench run is in flight, so each RunRequest -> RUN_START is measured alone (bench/orchestration_bench.py).
The runs load the real code location, which is what a sensor-started run pays for."""

import time

import dagster as dg

from platform_assets import definitions

BENCH_TAG = "shelfcast/bench"


@dg.op
def noop() -> None:
    """Nothing: RUN_START happens before any step, so the job's content does not matter."""


bench_noop = dg.GraphDefinition(name="bench_noop", node_defs=[noop]).to_job(
    executor_def=dg.in_process_executor
)


@dg.sensor(job=bench_noop, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def bench_sensor(context: dg.SensorEvaluationContext):
    busy = context.instance.get_runs(
        filters=dg.RunsFilter(
            tags={BENCH_TAG: "1"},
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if busy:
        return dg.SkipReason("a bench run is in flight")
    requested = time.time()
    return dg.RunRequest(
        run_key=f"bench-{requested:.6f}", tags={BENCH_TAG: "1", "shelfcast/requested_at": f"{requested:.6f}"}
    )


defs = dg.Definitions.merge(definitions.defs, dg.Definitions(jobs=[bench_noop], sensors=[bench_sensor]))
