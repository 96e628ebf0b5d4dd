"""Two runs started at the same moment on one DuckDB file (the schedule's `daily_refresh` and the
sensor's `retrain`) both succeed: the instance's `warehouse` pool (deploy/dagster-local.yaml) lets one
step at a time hold the file, across processes. DuckDB's lock is per process, so each run gets its own
OS process here, on a persistent instance as `make dev` has. Each run also did its own job: the same
three runs a graph's first day has (history, retrain, refresh), so they are checked here, not rebuilt."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tests.support.graph import TINY_GRAPH, seed_mlflow, shelfcast_graph

ROOT = Path(__file__).resolve().parents[1]
ENV = {**TINY_GRAPH, "TUNE_TRIALS": "0"}
POOL = "warehouse"
JOBS = ("daily_refresh", "retrain")
RUN_TIMEOUT_S = 600  # a bound on a hang, not a speed target: under load a refresh took 6 min


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    env.update({f"SHELFCAST_{k}": v for k, v in ENV.items()})
    home_env = {"SHELFCAST_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}
    return {**env, **home_env, "PYTHONPATH": str(ROOT)}


def start(home: Path, job: str, name: str) -> subprocess.Popen:
    """One run in its own process: it loads the definitions, says it is ready, waits for `go`."""
    log = (home / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, __file__, job, str(home / "sync"), name],
        cwd=ROOT,
        env=child_env(home),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def run_together(home: Path, jobs: tuple[str, ...]) -> dict[str, int]:
    """Start one process per job, release them at once, and return each one's exit code."""
    sync = home / "sync"
    shutil.rmtree(sync, ignore_errors=True)
    sync.mkdir()
    procs = {job: start(home, job, job) for job in jobs}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(list(sync.glob("ready-*"))) < len(jobs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs.values()), "no start"
        time.sleep(0.05)
    (sync / "go").touch()
    return {job: p.wait(timeout=RUN_TIMEOUT_S) for job, p in procs.items()}


def make_home(home: Path, instance_yaml: str) -> Path:
    """A SHELFCAST_HOME with the whole history materialized once, and its DAGSTER_HOME."""
    (home / "dagster_home").mkdir(parents=True)
    (home / "dagster_home" / "dagster.yaml").write_text(instance_yaml)
    seed_mlflow(home)
    codes = run_together(home, ("full_refresh",))
    assert codes == {"full_refresh": 0}, (home / "full_refresh.log").read_text()[-4000:]
    return home


def step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """When each step of a run started and ended."""
    starts, ends = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = entry.timestamp
    return {key: (starts[key], ends[key]) for key in starts}


def engine_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.message for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)]


def query(home: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(sql).pl()


OBSERVATIONS = "select count(*) from raw.observations"


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The home after the two runs, and how many observations had landed before them."""
    home = make_home(tmp_path_factory.mktemp("pooled"), (ROOT / "deploy/dagster-local.yaml").read_text())
    landed = query(home, OBSERVATIONS).item()
    codes = run_together(home, JOBS)
    assert codes == dict.fromkeys(JOBS, 0), "\n".join((home / f"{j}.log").read_text()[-4000:] for j in JOBS)
    return home, landed


def test_every_step_touching_the_warehouse_is_in_the_pool(tmp_path):
    """An op outside the pool opening the file would collide with the other run's step."""
    with shelfcast_graph(tmp_path, **ENV) as g:
        for job in JOBS:
            outside = [
                node.name
                for node in g.defs.resolve_job_def(job).graph.nodes
                if "warehouse" in node.definition.required_resource_keys and node.definition.pool != POOL
            ]
            assert outside == [], job


def test_two_runs_started_together_both_succeed_one_step_at_a_time(pooled):
    home, _ = pooled
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        runs = {job: instance.get_runs(dg.RunsFilter(job_name=job))[0] for job in JOBS}
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs.values())
        windows = {job: step_windows(instance, run.run_id) for job, run in runs.items()}
        # The runs really overlapped in time (else this proves nothing) ...
        (a0, a1), (b0, b1) = [(min(w.values())[0], max(e for _, e in w.values())) for w in windows.values()]
        assert a0 < b1 and b0 < a1, windows
        # ... one of them waited for the pool ...
        blocked = [m for run in runs.values() for m in engine_messages(instance, run.run_id)]
        assert any(f"blocked by limit for pool {POOL}" in m for m in blocked)
        # ... and no step of one ran while a step of the other did.
        first, second = windows.values()
        clashes = [
            (k1, k2)
            for k1, (s1, e1) in first.items()
            for k2, (s2, e2) in second.items()
            if s1 < e2 and s2 < e1
        ]
        assert clashes == [], clashes


def test_the_retrain_gates_a_challenger_and_the_refresh_replaces_its_month(pooled):
    home, landed = pooled
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        runs = {job: instance.get_runs(dg.RunsFilter(job_name=job))[0] for job in ("full_refresh", *JOBS)}
        materialized = instance.all_logs(
            runs["retrain"].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        gates = [
            {k: v.value for k, v in e.asset_materialization.metadata.items()}
            for e in materialized
            if e.asset_materialization.asset_key == dg.AssetKey("champion_model")
        ]
        forecasts_ended = {
            job: step_windows(instance, run.run_id)["forecasts"][1] for job, run in runs.items()
        }
    [gate] = gates
    assert gate["challenger_version"] == "2"
    # Same data, same recipe: v2 repeats v1's backtest, and v1 is scored on windows its final fit saw.
    assert gate["promoted"] is False and "does not beat champion" in gate["reason"], gate["reason"]
    assert gate["champion_version"] == "1"
    # Re-ingesting a partition replaces it: same rows, no duplicates.
    assert query(home, OBSERVATIONS).item() == landed
    # Every run forecast once, and the newest generation is the one served.
    generations = query(home, "select distinct generation_id from marts.forecasts")["generation_id"]
    assert sorted(generations.to_list()) == sorted(run.run_id for run in runs.values())
    newest = max(forecasts_ended, key=forecasts_ended.__getitem__)
    latest = query(home, "select distinct generation_id from marts.forecasts_latest")
    assert latest.item() == runs[newest].run_id


def main(job: str, sync: Path, name: str) -> int:
    """The child process: one run of `job` on the instance in DAGSTER_HOME, as the schedule or the
    sensor would launch it."""
    from platform_assets.definitions import defs
    from platform_assets.defs.orchestration import partition_range_tags
    from platform_assets.runner.history import history_range

    first, last = history_range(defs.resources["config"].process_config_and_initialize())
    kwargs = {
        "full_refresh": {"tags": partition_range_tags(first, last)},
        "daily_refresh": {"partition_key": last},
    }.get(job, {})
    instance = dg.DagsterInstance.get()
    (sync / f"ready-{name}").touch()
    while not (sync / "go").exists():
        time.sleep(0.01)
    print(f"{name} go at {datetime.now().isoformat()}", flush=True)
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)
    for event in result.all_events:
        if event.is_failure:
            print(json.dumps({"step": event.step_key, "error": event.message}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
