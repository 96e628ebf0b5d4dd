"""Runs whose process died (kill -9, a full disk, a closed laptop) stay STARTED in the instance and keep
the `warehouse` pool slot they claimed, so every later run would wait for it forever. With the default
run launcher every run worker is a process of this machine and can be asked directly: a run that says
it is running but whose worker is gone is marked failed and its slots are freed, and the next run
proceeds. `make demo` does it before its run; in `make dev` (and any daemon with the default launcher)
the `abandoned_runs_sensor` does it every 30 s. On Kubernetes, run monitoring asks the run's
pod instead (deploy/helm/values.yaml) and this sensor stands aside."""

import os

import dagster as dg

RUNNING = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that started executing the run (RUN_START is written by the run worker, or by the
    process calling `execute_in_process`); None while the run has not started."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1, ascending=False
    ).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


def release_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the runs of this machine whose worker process is gone and free their concurrency slots;
    the messages say which. Only for an instance whose runs are processes of this machine."""
    released = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=RUNNING)):
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        message = (
            f"run {run.run_id} ({run.job_name}) lost its process (pid {pid}): marked failed, slots freed"
        )
        instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(message)
    return released


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs whose process died (killed, out of disk) and frees the `warehouse` pool "
    "slot they held, so later runs do not wait for it forever (local run launcher only).",
)
def abandoned_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    instance = context.instance
    if not isinstance(instance.run_launcher, dg.DefaultRunLauncher):  # run pods: run monitoring's job
        return dg.SkipReason(f"runs are launched by {type(instance.run_launcher).__name__}: not local")
    released = release_abandoned_runs(instance)
    for line in released:
        context.log.warning(line)
    return dg.SkipReason("; ".join(released) or "no abandoned run")


def build_recovery_defs() -> dg.Definitions:
    return dg.Definitions(sensors=[abandoned_runs_sensor])
