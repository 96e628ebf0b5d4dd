"""Runs whose process died (kill -9, a full disk, a closed laptop) stay STARTED in the instance and keep
the `warehouse` pool slot they claimed, so every later run would wait for it forever. On one machine a
run's process can be asked directly: a run that says it is running but whose process is gone is marked
failed and its slots are freed, and the next run proceeds."""

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


def _last_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that wrote the run's newest Dagster event (the run worker, for an in-process run)."""
    for record in instance.get_records_for_run(run_id, limit=50, ascending=False).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return event.pid
    return None


def release_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the runs of this machine whose process is gone and free their concurrency slots; the
    messages say which. Only for a local instance: a run in another pod has no pid here."""
    released = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=RUNNING)):
        run = record.dagster_run
        pid = _last_pid(instance, run.run_id)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        message = (
            f"run {run.run_id} ({run.job_name}) lost its process (pid {pid}): marked failed, slots freed"
        )
        instance.report_run_failed(run, message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(message)
    return released
