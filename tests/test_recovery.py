"""A run whose process is killed while it holds the `warehouse` pool slot must not block every later
run. Real processes, a real persistent instance from deploy/dagster-local.yaml, a real SIGKILL: the
demo's explicit call frees the slot, and so does `make dev`'s daemon on its own (the
abandoned_runs_sensor in the code location, run monitoring in the instance). Steps that talk to a
store retry with backoff."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import yaml

from platform_assets.defs.recovery import release_abandoned_runs
from platform_assets.defs.retries import SERVER_RETRY

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHILD = """
import sys, time
from pathlib import Path
import dagster as dg

@dg.asset(pool="warehouse")
def holds_the_warehouse() -> None:
    Path(sys.argv[1]).touch()  # the slot is claimed: the parent may kill us now
    time.sleep(120)

dg.materialize([holds_the_warehouse], instance=dg.DagsterInstance.get())
"""
TIMEOUT_S = 240


def claimed(instance: dg.DagsterInstance) -> int:
    return len(instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots)


def make_home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A DAGSTER_HOME with `make dev`'s instance file, and the environment of a process using it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-local.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    env.update(DAGSTER_HOME=str(home), SHELFCAST_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    return home, env


def start_holder(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """A run in its own process that claims the pool slot and keeps it; returns once it holds it."""
    (tmp_path / "child.py").write_text(CHILD)
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(ready)], env=env)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child run did not start"
        time.sleep(0.1)
    return child


def kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)


def test_a_killed_run_gives_its_pool_slot_back(tmp_path: Path):
    home, env = make_home(tmp_path)
    child = start_holder(tmp_path, env)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert release_abandoned_runs(instance) == []  # alive: left alone
        assert claimed(instance) == 1
        kill(child)
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED and claimed(instance) == 1  # what blocked before
        [message] = release_abandoned_runs(instance)
        assert f"pid {child.pid}" in message
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert claimed(instance) == 0
        assert release_abandoned_runs(instance) == []


def wait_for(instance: dg.DagsterInstance, run_id: str, daemon: subprocess.Popen) -> dg.DagsterRunStatus:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run.status
        assert daemon.poll() is None, "the daemon exited"
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish in {TIMEOUT_S} s")


def test_make_dev_runs_on_after_a_killed_run(tmp_path: Path):
    """What a `make dev` user does: a run dies holding the pool slot (SIGKILL), then a run is launched
    through the queue. The daemon (`dagster-daemon run` on the repo's workspace.yaml, as `dagster dev`
    starts it) fails the dead run and the new one completes; nothing here frees the slot."""
    home, env = make_home(tmp_path)
    kill(dead := start_holder(tmp_path, env))
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        launch = [str(BIN / "dagster"), "job", "launch", "-w", str(ROOT / "workspace.yaml")]
        tags = json.dumps({"dagster/partition": "2026-01-01"})
        run_id = str(uuid.uuid4())
        subprocess.run(
            [*launch, "-j", "served_requests_job", "--tags", tags, "--run-id", run_id],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        with dg.DagsterInstance.from_config(str(home)) as instance:
            status = wait_for(instance, run_id, daemon)
            assert status == dg.DagsterRunStatus.SUCCESS, (tmp_path / "daemon.log").read_text()[-3000:]
            [killed] = [r for r in instance.get_runs() if r.run_id != run_id]
            assert killed.status == dg.DagsterRunStatus.FAILURE
            failure = instance.all_logs(killed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert f"pid {dead.pid}" in failure[-1].message
            assert claimed(instance) == 0
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)


def test_instance_templates_monitor_runs(tmp_path: Path):
    """Both instance files turn run monitoring on with values this Dagster accepts: timeouts, slots of
    ended runs freed, no resume (the default launcher cannot)."""
    local = yaml.safe_load((ROOT / "deploy" / "dagster-local.yaml").read_text())["run_monitoring"]
    postgres = yaml.safe_load((ROOT / "deploy" / "dagster-postgres.yaml").read_text())["run_monitoring"]
    assert local == postgres
    home, _ = make_home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_start_timeout_seconds > 0
        assert instance.run_monitoring_cancel_timeout_seconds > 0
        assert 0 < instance.run_monitoring_settings["free_slots_after_run_end_seconds"] <= 60


def test_steps_that_talk_to_a_store_retry_with_backoff(tmp_path: Path, monkeypatch):
    """Every step that uses the warehouse, MLflow or dbt (all of them talk to Postgres in a deployment,
    MLflow to its server or database) retries with exponential backoff and jitter; any other step
    does not."""
    from platform_assets.config.settings import load_settings
    from platform_assets.definitions import build_defs

    defs = build_defs(load_settings({"SHELFCAST_HOME": str(tmp_path)}))
    graph = defs.resolve_asset_graph()
    policies = {}
    for node in graph.assets_defs:  # asset checks included
        if node.is_executable and node.node_def is not None:
            policies[node.node_def.name] = (node.required_resource_keys, node.op.retry_policy)
    talks = {"warehouse", "mlflow", "dbt"}
    retrying = {name for name, (keys, _) in policies.items() if keys & talks}
    assert {"trained_model", "champion_model", "forecasts", "serving_bundle", "drift_scores"} <= retrying
    checks = {"raw_observations_rejected_row_rate", "forecasts_prediction_drift"}
    assert {"raw_observations", "warehouse_models", "features", *checks} <= retrying
    assert {name: policy for name, (_, policy) in policies.items() if name in retrying} == {
        name: SERVER_RETRY for name in retrying
    }
    assert {name for name, (_, policy) in policies.items() if policy is not None} == retrying
    assert SERVER_RETRY.backoff == dg.Backoff.EXPONENTIAL and SERVER_RETRY.jitter is not None
