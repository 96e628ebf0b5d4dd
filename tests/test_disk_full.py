"""A full disk under SHELFCAST_HOME: the ingest that cannot write fails with one line naming the cause
(what `make demo` prints for the step), the tables of the previous run are intact, and once space is
freed the next run lands the new data. SHELFCAST_HOME is a 30 MB tmpfs (mounting needs root: skipped,
saying so, where the machine does not allow it)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.runner.console import failure_message
from tests.support.graph import shelfcast_graph

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "landing"
INGEST = [dg.AssetKey(k) for k in ("raw_products", "raw_suppliers", "raw_observations")]
RAW = "select count(*), round(sum(price), 2) from raw.observations"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 30 MB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(mount)], capture_output=True, text=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command on this machine: cannot build a tiny disk")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Write zeros until the disk refuses (or only `leave` bytes are free); returns the file to delete
    to free the space."""
    ballast = disk / "ballast"
    with ballast.open("wb") as f:
        try:
            while shutil.disk_usage(disk).free > leave + (1 << 20):
                f.write(b"\0" * (1 << 20))
                f.flush()
            if not leave:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass
    assert shutil.disk_usage(disk).free < leave + (1 << 20)
    return ballast


def test_a_full_disk_fails_clearly_keeps_the_tables_and_converges(tiny_disk: Path, tmp_path: Path):
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURE, landing)
    with shelfcast_graph(tiny_disk / "home", FEED="files", LANDING_DIR=str(landing)) as g:
        assert g.run_history(asset_selection=INGEST).success
        before = g.warehouse.query(RAW).row(0)
        ballast = fill(tiny_disk)
        august = landing / "observations" / "2025-08.csv"
        august.write_text(august.read_text().replace(",14.98,", ",15.98,"))  # new prices to land

        full = g.run_history(raise_on_error=False, asset_selection=INGEST)
        assert not full.success
        failures = [e for e in full.all_events if e.is_step_failure]
        assert failures
        for event in failures:  # what the demo's console prints for the step: one line, the cause
            line = failure_message(event.step_failure_data.error)
            assert "No space left on device" in line and "\n" not in line, line
        assert g.warehouse.query(RAW).row(0) == before  # the previous tables, as they were

        ballast.unlink()
        assert g.run_history(asset_selection=INGEST).success
        count, total = g.warehouse.query(RAW).row(0)
        assert count == before[0] and total > before[1]  # the new prices landed


def test_make_demo_on_a_full_disk_ends_with_one_line(tiny_disk: Path, tmp_path: Path):
    """The demo's home on a disk with 9 MB free (a demo home needs ~16): the run stops when the instance
    or the warehouse cannot write, and the terminal gets the demo's lines and the low-disk line, no
    traceback (the log file it would have gone to is on the full disk too)."""
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURE, landing)
    home = tiny_disk / "home"
    (home / "dagster_home").mkdir(parents=True)
    (home / "dagster_home" / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-local.yaml").read_text())
    fill(tiny_disk, leave=9 << 20)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    env |= {"SHELFCAST_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), "PYTHONPATH": str(ROOT)}
    env |= {"SHELFCAST_FEED": "files", "SHELFCAST_LANDING_DIR": str(landing), "SHELFCAST_TUNE_TRIALS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli.demo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out[-3000:]
    last = out.strip().splitlines()[-2:]  # `stopped after ...: <low disk>` + `details: <log>`, or
    assert last[0].startswith("full_refresh "), out  # `FAILED after ... see <log>` + the low-disk line
    assert any("has 0 MiB free: free space and run make demo again" in line for line in last), out
