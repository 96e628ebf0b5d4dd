"""Two drivers of one home: a second `make demo` while one runs stops at once with one line (no
DuckDB lock error, nothing written), and a reader outside a step (the demo's summary) waits for the
`warehouse` pool slot a step holds instead of opening the DuckDB file under it."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg

from platform_assets.runner.locks import home_lock, warehouse_slot
from tests.support.graph import TINY_GRAPH

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys, time
from pathlib import Path
from platform_assets.runner.locks import home_lock

with home_lock(Path(sys.argv[1]), "demo"):
    Path(sys.argv[2]).touch()
    time.sleep(120)
"""


def test_a_second_demo_on_a_home_says_one_is_running(tmp_path: Path):
    home = tmp_path / "home"
    (home / "dagster_home").mkdir(parents=True)
    (home / "dagster_home" / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-local.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    env |= {f"SHELFCAST_{k}": v for k, v in TINY_GRAPH.items()}
    env |= {"SHELFCAST_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), "PYTHONPATH": str(ROOT)}
    ready = tmp_path / "ready"
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(home), str(ready)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first demo did not start"
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "platform_assets.cli.demo"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 1
    last = second.stderr.strip().splitlines()[-1]
    assert last == (
        f"shelfcast demo: another demo is running on {home} (pid {first.pid}): wait for it to finish, "
        "or set SHELFCAST_HOME to use another home"
    )
    assert "Traceback" not in second.stderr and second.stdout == ""
    assert not (home / "warehouse.duckdb").exists()  # it touched nothing
    with home_lock(home, "demo"):  # the lock died with its process
        pass


def test_a_reader_waits_for_the_warehouse_slot(tmp_path: Path):
    (tmp_path / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-local.yaml").read_text())
    entered = threading.Event()

    def reader(instance: dg.DagsterInstance) -> None:
        with warehouse_slot(instance, "run-b", "demo_summary"):
            entered.set()

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        with warehouse_slot(instance, "run-a", "a_step"):  # as a step of a running job holds it
            thread = threading.Thread(target=reader, args=(instance,))
            thread.start()
            assert not entered.wait(2)  # the reader queues while the step holds the file
        assert entered.wait(30)
        thread.join(30)
        info = instance.event_log_storage.get_concurrency_info("warehouse")
        assert info.slot_count == 1 and not info.claimed_slots and not info.pending_steps
