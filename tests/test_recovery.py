"""A run whose process is killed while it holds the `warehouse` pool slot must not block every later
run: `release_abandoned_runs` fails it and frees the slot, and leaves a live run alone. Real processes,
a real persistent instance with the pool limit of deploy/dagster-local.yaml, a real SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from platform_assets.runner.recovery import release_abandoned_runs

ROOT = Path(__file__).resolve().parents[1]
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


def claimed(instance: dg.DagsterInstance) -> int:
    return len(instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots)


def test_a_killed_run_gives_its_pool_slot_back(tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-local.yaml").read_text())
    (tmp_path / "child.py").write_text(CHILD)
    ready = tmp_path / "ready"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(ready)], env=env)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child run did not start"
        time.sleep(0.1)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert release_abandoned_runs(instance) == []  # alive: left alone
        assert claimed(instance) == 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED and claimed(instance) == 1  # what blocked before
        [message] = release_abandoned_runs(instance)
        assert f"pid {child.pid}" in message
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert claimed(instance) == 0
        assert release_abandoned_runs(instance) == []
