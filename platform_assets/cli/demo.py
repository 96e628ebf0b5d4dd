"""`make demo`: materialize the whole graph over the feed's history and say what came out, in a few
lines: one per step, training progress, the summary and what to run next. The full logs go to
$SHELFCAST_HOME/logs/demo-<time>.log (SHELFCAST_VERBOSE=1 prints them too)."""

import contextlib
import logging
import shutil
import sys
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # ours to know, not the demo's reader's

from platform_assets.config.resources import MLflowResource, ShelfcastConfig  # noqa: E402
from platform_assets.config.settings import Settings, load_settings  # noqa: E402
from platform_assets.definitions import defs  # noqa: E402
from platform_assets.defs.orchestration import partition_range_tags  # noqa: E402
from platform_assets.defs.recovery import release_abandoned_runs  # noqa: E402
from platform_assets.feeds.files.reading import first_line  # noqa: E402
from platform_assets.runner.console import console_logger, quiet_console  # noqa: E402
from platform_assets.runner.history import history_range  # noqa: E402
from platform_assets.runner.locks import HomeBusy, home_lock, warehouse_slot  # noqa: E402
from platform_assets.runner.report import check_lines, next_steps, peak_memory, summarize  # noqa: E402
from platform_assets.storage.warehouse import Warehouse  # noqa: E402


def main() -> int:
    # Resolve EnvVar-backed fields the way a run would.
    config, warehouse, mlflow = (
        defs.resources[key].process_config_and_initialize() for key in ("config", "warehouse", "mlflow")
    )
    try:
        with home_lock(config.home_path, "demo"):
            return demo(load_settings(), config, warehouse, mlflow)
    except HomeBusy as busy:
        print(f"shelfcast demo: {busy}", file=sys.stderr)
        return 1


def demo(settings: Settings, config: ShelfcastConfig, warehouse: Warehouse, mlflow: MLflowResource) -> int:
    """The whole history in one run, then what came out (read inside the `warehouse` pool: a run of
    `make dev` may be writing the DuckDB file meanwhile)."""
    partitions = defs.resolve_assets_def("raw_observations").partitions_def
    try:
        start, end = history_range(config, partitions.get_first_partition_key())
        config.resolved_freq()  # quarterly dates fit no grid: say so now, not after the ingest
    except ValueError as err:  # no usable data, data the partitions do not reach, no grid: one line
        print(f"shelfcast demo: {first_line(err)}", file=sys.stderr)
        return 1
    log_path = config.home_path / "logs" / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    print(
        f"shelfcast demo: {config.ingest.feed} feed, months {start[:7]} .. {end[:7]}, home {config.home_path}"
    )
    print(f"full logs: {log_path}")
    instance = dg.DagsterInstance.get()
    with quiet_console(log_path, settings.verbose) as console:
        for line in release_abandoned_runs(instance):
            console.line(f"shelfcast demo: {line}")
        job = defs.resolve_job_def("full_refresh").with_logger_defs(
            {"shelfcast_console": console_logger(console, log_path)}
        )
        began = time.monotonic()
        try:
            result = job.execute_in_process(
                instance=instance,
                tags=partition_range_tags(start, end),
                run_config={"loggers": {"shelfcast_console": {}}},  # the only logger: no console logger
                raise_on_error=False,
            )
        except Exception as err:  # the instance itself failed (e.g. a full disk): one line, trace in the log
            # Its database connections complain again as the process exits: noise once the log has it.
            logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
            with contextlib.suppress(OSError):  # the log may sit on the very disk that is full
                traceback.print_exc()
            why = stopped(err, config.home_path)
            console.line(f"full_refresh stopped after {time.monotonic() - began:.0f} s: {why}")
            console.line(f"details: {log_path}")
            return 1
        elapsed = time.monotonic() - began
        if not result.success:
            console.line(f"full_refresh FAILED after {elapsed:.0f} s (run {result.run_id}): see {log_path}")
            console.line(low_disk(config.home_path) or "or the run in the Dagster UI: make dev")
            return 1
        console.line(f"full_refresh succeeded in {elapsed:.0f} s (run {result.run_id})")
        console.line("")
        with warehouse_slot(instance, result.run_id, "demo_summary"):
            console.line(summarize(warehouse, mlflow))
        steps = next_steps(config.home_path, settings.warehouse, mlflow.tracking_uri)
        for line in [*check_lines(console.checks, config.ingest.feed), *steps]:
            console.line(line)
        console.line(peak_memory())
    return 0


# Less free space than this under $SHELFCAST_HOME is the likely cause of a failure: say so first.
LOW_DISK_BYTES = 256 * 2**20


def low_disk(home: Path) -> str | None:
    """A line saying the disk holding `home` is (nearly) full, or None."""
    free = shutil.disk_usage(home).free
    if free >= LOW_DISK_BYTES:
        return None
    return (
        f"the disk holding {home} has {free / 2**20:.0f} MiB free: free space and run make demo again "
        "(tables of the last run that finished are intact; this run is marked failed on the next start)"
    )


def stopped(err: BaseException, home: Path) -> str:
    """Why the run stopped, in one line."""
    return low_disk(home) or f"{type(err).__name__}: {first_line(err)}"


if __name__ == "__main__":
    sys.exit(main())
