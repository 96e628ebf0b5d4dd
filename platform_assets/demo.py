"""`make demo`: materialize the whole graph over the feed's history and say what came out."""

import resource
import sys
import time
from pathlib import Path

import dagster as dg

from platform_assets.definitions import defs
from platform_assets.defs.orchestration import partition_range_tags
from platform_assets.resources import MLflowResource, ShelfcastConfig
from platform_assets.warehouse import Warehouse


def history_range(config: ShelfcastConfig) -> tuple[str, str]:
    """The first and last monthly ingest partitions covering the feed's data (plans included)."""
    first, last = config.make_feed().span()
    return first.replace(day=1).isoformat(), last.replace(day=1).isoformat()


def summarize(warehouse: Warehouse, mlflow: MLflowResource) -> str:
    from mlflow import MlflowClient

    latest = warehouse.query(
        """select count(*) as rows, count(distinct (product_id, store_id)) as series,
                  min(target_date) as first_day, max(target_date) as last_day,
                  max(model_version) as model_version,
                  count(*) filter (where not (p10 <= p50 and p50 <= p90)) as disordered
           from marts.forecasts_latest"""
    ).row(0, named=True)
    active = warehouse.query("select count(*) as n from marts.dim_series where is_active").item()
    client = MlflowClient(tracking_uri=mlflow.tracking_uri)
    champion = client.get_model_version_by_alias("shelfcast-forecaster", "champion")
    metrics = client.get_run(champion.run_id).data.metrics
    cols = ("wape", "mase", "smape", "rmse", "coverage_p10_p90")
    rows = [
        f"  {label:<16}" + "".join(f"{metrics.get(f'{prefix}{c}', float('nan')):>10.3f}" for c in cols[:4])
        for label, prefix in (
            ("champion", ""),
            ("naive", "naive_"),
            ("seasonal naive", "seasonal_naive_"),
            ("recent median", "recent_median_"),
        )
    ]
    return "\n".join(
        [
            f"forecasts_latest: {latest['rows']} rows for {latest['series']} series "
            f"(active series: {active}), {latest['first_day']} .. {latest['last_day']}, "
            f"p10<=p50<=p90 violations: {latest['disordered']}",
            f"champion: shelfcast-forecaster v{champion.version} (run {champion.run_id}), "
            f"interval coverage p10-p90 {metrics.get('coverage_p10_p90', float('nan')):.3f}",
            "backtest            " + "".join(f"{c:>10}" for c in cols[:4]),
            *rows,
        ]
    )


def peak_memory() -> str:
    """The peak RSS of this process, where every in-process step ran (dbt runs in subprocesses). Read
    from VmHWM, which starts afresh at exec: ru_maxrss would also count the parent's memory at fork."""
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.exists() else []
    hwm = [int(line.split()[1]) for line in lines if line.startswith("VmHWM:")]
    kib = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"peak RSS of this process: {kib / 1024:.0f} MiB"


def main() -> int:
    # Resolve EnvVar-backed fields the way a run would.
    config, warehouse, mlflow = (
        defs.resources[key].process_config_and_initialize() for key in ("config", "warehouse", "mlflow")
    )
    start, end = history_range(config)
    print(f"shelfcast demo: feed={config.feed}, months {start} .. {end}, home={config.home_path}")
    began = time.monotonic()
    result = defs.resolve_job_def("full_refresh").execute_in_process(
        instance=dg.DagsterInstance.get(),
        tags=partition_range_tags(start, end),
        raise_on_error=False,
    )
    elapsed = time.monotonic() - began
    if not result.success:
        print(f"full_refresh FAILED after {elapsed:.0f} s; see the run in `make dev`", file=sys.stderr)
        return 1
    print(f"full_refresh succeeded in {elapsed:.0f} s (run {result.run_id})")
    print(summarize(warehouse, mlflow))
    print(peak_memory())
    return 0


if __name__ == "__main__":
    sys.exit(main())
