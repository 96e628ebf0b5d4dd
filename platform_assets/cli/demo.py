"""`make demo`: materialize the whole graph over the feed's history and say what came out."""

import sys
import time

import dagster as dg

from platform_assets.config.resources import MLflowResource, ShelfcastConfig
from platform_assets.definitions import defs
from platform_assets.defs.orchestration import partition_range_tags
from platform_assets.defs.recovery import release_abandoned_runs
from platform_assets.feeds.files.reading import first_line
from platform_assets.runner.history import history_range
from platform_assets.runner.locks import HomeBusy, home_lock, warehouse_slot
from platform_assets.runner.report import peak_memory, summarize
from platform_assets.storage.warehouse import Warehouse

# Step starts, results and warnings on the console, not every DEBUG event (the UI keeps them all).
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def main() -> int:
    # Resolve EnvVar-backed fields the way a run would.
    config, warehouse, mlflow = (
        defs.resources[key].process_config_and_initialize() for key in ("config", "warehouse", "mlflow")
    )
    try:
        with home_lock(config.home_path, "demo"):
            return demo(config, warehouse, mlflow)
    except HomeBusy as busy:
        print(f"shelfcast demo: {busy}", file=sys.stderr)
        return 1


def demo(config: ShelfcastConfig, warehouse: Warehouse, mlflow: MLflowResource) -> int:
    """The whole history in one run, then what came out (read inside the `warehouse` pool: a run of
    `make dev` may be writing the DuckDB file meanwhile)."""
    partitions = defs.resolve_assets_def("raw_observations").partitions_def
    try:
        start, end = history_range(config, partitions.get_first_partition_key())
    except ValueError as err:  # no usable data, or data the partitions do not reach: say so in one line
        print(f"shelfcast demo: {first_line(err)}", file=sys.stderr)
        return 1
    print(f"shelfcast demo: feed={config.ingest.feed}, months {start} .. {end}, home={config.home_path}")
    instance = dg.DagsterInstance.get()
    for line in release_abandoned_runs(instance):
        print(f"shelfcast demo: {line}")
    began = time.monotonic()
    result = defs.resolve_job_def("full_refresh").execute_in_process(
        instance=instance,
        tags=partition_range_tags(start, end),
        run_config=QUIET,
        raise_on_error=False,
    )
    elapsed = time.monotonic() - began
    if not result.success:
        print(f"full_refresh FAILED after {elapsed:.0f} s; see the run in `make dev`", file=sys.stderr)
        return 1
    print(f"full_refresh succeeded in {elapsed:.0f} s (run {result.run_id})")
    with warehouse_slot(instance, result.run_id, "demo_summary"):
        print(summarize(warehouse, mlflow))
    print(peak_memory())
    return 0


if __name__ == "__main__":
    sys.exit(main())
